//! Prints the tokens of each line of standard input (masked, or `letters` as argument).
#![allow(missing_docs)]
use lad_core::tokenizer::{Tokenizer, TokenizerMode};
use std::io::BufRead;
fn main() {
    let mode = match std::env::args().nth(1).as_deref() {
        Some("letters") => TokenizerMode::LettersOnly,
        _ => TokenizerMode::Masked,
    };
    let t = Tokenizer::new(mode);
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        println!("{}", t.tokenize(&line).join(" "));
    }
}
