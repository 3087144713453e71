//! tokenizer: under construction.
