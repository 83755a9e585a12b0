"""The NLP steps. Each module loads its heavy libraries (spaCy, torch, BERTopic) on first use."""
