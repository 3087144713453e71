//! autoencoder: under construction.
