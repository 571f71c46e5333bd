"""The shared analysis layer over Python ``ast`` that code rules and code fact extractors use."""
