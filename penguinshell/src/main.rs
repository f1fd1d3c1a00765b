fn main() {
    println!("🐧 penguinshell: not written yet");
}
