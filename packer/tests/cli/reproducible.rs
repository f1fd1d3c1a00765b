//! Acceptance 1: the same bundle from different folders, with different mtimes, owners and
//! umask, packed with 1 and with 2 threads, gives identical layer, config and manifest digests.

use super::*;
use std::fs::{File, FileTimes};
use std::time::{Duration, SystemTime};

fn touch_all(root: &Path, when: SystemTime, uid: u32) {
    for rel in listing(root) {
        let p = root.join(&rel);
        std::os::unix::fs::lchown(&p, Some(uid), Some(uid)).unwrap();
        if p.is_symlink() {
            continue;
        }
        let f = File::open(&p).unwrap();
        f.set_times(FileTimes::new().set_modified(when).set_accessed(when))
            .unwrap();
    }
}

fn build_under_umask(root: &Path, layout: &Path, umask: &str, threads: &str) -> [String; 4] {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin("packer"))
        .arg("build")
        .arg(root)
        .arg("--oci-layout")
        .arg(layout)
        .args(["--threads", threads, "--tag", "p:1", "--json"])
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    digests(&serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn same_bundle_same_digests_whatever_folder_time_owner_umask_threads() {
    let dir = scratch();
    let a = dir.path().join("first/place");
    let b = dir.path().join("somewhere-else");
    fixed_bundle(&a);
    // a big compressible file, so 2 threads really split the gzip work and every block after
    // the first deflates against the previous block's tail: a dictionary that depended on the
    // thread count would change the layer digest (random bytes would be stored, hiding it)
    let mut big = Vec::with_capacity(5_000_000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while big.len() < 5_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(
            ["penguin ", "shell ", "layer ", "tar\n", "gzip "][(x % 5) as usize].as_bytes(),
        );
    }
    std::fs::write(a.join("etc/big"), &big).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    fixed_bundle(&b);
    std::fs::write(b.join("etc/big"), &big).unwrap();
    touch_all(
        &a,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
        0,
    );
    touch_all(&b, SystemTime::now(), 4242);

    let one = build_under_umask(&a, &dir.path().join("img1"), "022", "1");
    let two = build_under_umask(&b, &dir.path().join("img2"), "077", "2");
    assert_eq!(one, two);
    // the file was deflated, not stored
    let layer = dir.path().join("img1/blobs/sha256").join(&one[0][7..]);
    assert!(std::fs::metadata(layer).unwrap().len() < 2_000_000);
    // and the blob files themselves are byte-identical
    for d in &[&one[0], &one[2], &one[3]] {
        let p = |l: &str| dir.path().join(l).join("blobs/sha256").join(&d[7..]);
        assert_eq!(
            std::fs::read(p("img1")).unwrap(),
            std::fs::read(p("img2")).unwrap()
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("img1/index.json")).unwrap(),
        std::fs::read(dir.path().join("img2/index.json")).unwrap()
    );
}
