//! The `lad` command.

fn main() {
    println!("lad");
}
