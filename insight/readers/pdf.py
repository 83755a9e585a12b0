"""PDF documents: the text layer, page by page, with the same speaker detection as text files."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from insight.errors import ReaderError
from insight.readers.base import IngestOptions, ParsedDocument, ReadResult, register, title_from, turns_and_kind


@register
class PdfReader:
    name = "pdf"
    suffixes = (".pdf",)

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        from pypdf import PdfReader as _Pdf
        from pypdf.errors import PdfReadError, PyPdfError

        if not data.strip():
            raise ReaderError(path, "the file is empty.", fix="Check that the export finished.")
        if not data.lstrip().startswith(b"%PDF"):
            raise ReaderError(path, "this is not a PDF (it does not start with %PDF).",
                              fix="Check the file's real type and give it the right extension.")
        logging.getLogger("pypdf").setLevel(logging.ERROR)
        try:
            pdf = _Pdf(io.BytesIO(data))
            if pdf.is_encrypted:
                try:
                    pdf.decrypt("")
                except Exception:
                    raise ReaderError(path, "the PDF is password-protected.",
                                      fix="Save an unprotected copy and ingest that.") from None
            pages = [(page.extract_text() or "") for page in pdf.pages]
        except ReaderError:
            raise
        except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
            raise ReaderError(path, f"the PDF is damaged and cannot be read ({exc.__class__.__name__}: {exc}).",
                              fix="Re-export it from the original document.") from None
        except Exception as exc:  # pypdf on a damaged file raises many kinds (zlib, struct, index errors)
            raise ReaderError(path, f"the PDF is damaged and cannot be read ({exc.__class__.__name__}).",
                              fix="Re-export it from the original document.") from None
        text = "\n\n".join(p.replace("\r\n", "\n").replace("\r", "\n").strip() for p in pages).strip()
        if not text:
            raise ReaderError(
                path,
                f"the PDF has {len(pages)} page(s) but no text layer: it looks scanned.",
                fix="Run OCR on it first (for example `ocrmypdf in.pdf out.pdf`) and ingest the result.",
            )
        text += "\n"
        turns, kind = turns_and_kind(text, options.kind)
        meta = {"pages": len(pages)}
        return ReadResult(documents=[ParsedDocument(title=title_from(path), text=text, turns=turns, kind=kind,
                                                    metadata=meta)])
