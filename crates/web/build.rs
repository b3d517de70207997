// include_dir! cannot tell cargo which files it read (that needs a nightly API), so a rebuilt
// bundle would not recompile this crate: name the folder here, and any change under it does.
fn main() {
    println!("cargo:rerun-if-changed=dist");
}
