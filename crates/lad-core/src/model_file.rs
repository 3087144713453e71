//! model_file: under construction.
