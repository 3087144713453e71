//! word2vec: under construction.
