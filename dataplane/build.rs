//! Without the `af-xdp` feature: nothing. With it: compiles the XDP program
//! (`bpf/rtpbolt_xdp.c`) with `clang -target bpf` into `$OUT_DIR/rtpbolt_xdp.o`, which
//! the AF_XDP backend embeds and loads.

fn main() {
    #[cfg(feature = "af-xdp")]
    xdp::build();
}

#[cfg(feature = "af-xdp")]
mod xdp {
    use std::env;
    use std::path::PathBuf;
    use std::process::Command;

    const SOURCE: &str = "bpf/rtpbolt_xdp.c";

    pub fn build() {
        println!("cargo:rerun-if-changed={SOURCE}");
        println!("cargo:rerun-if-env-changed=BPF_CLANG");
        let clang = env::var("BPF_CLANG").unwrap_or_else(|_| "clang".into());
        let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        let obj = out.join("rtpbolt_xdp.o");
        let mut cmd = Command::new(&clang);
        cmd.args([
            "-target", "bpf", "-O2", "-g", "-Wall", "-Werror", "-c", SOURCE, "-o",
        ])
        .arg(&obj);
        // Debian keeps <asm/types.h> under the multiarch directory, which a BPF target
        // does not search by itself.
        if let Some(dir) = multiarch_include() {
            cmd.arg(format!("-I{dir}"));
        }
        let status = cmd.status().unwrap_or_else(|e| {
            panic!(
                "the `af-xdp` feature compiles {SOURCE} with `{clang} -target bpf`, which could \
                 not run (Debian: apt-get install clang libbpf-dev): {e}"
            )
        });
        assert!(
            status.success(),
            "`{clang} -target bpf` failed on {SOURCE} ({status}); it needs libbpf's headers \
             (Debian: libbpf-dev) and the kernel's UAPI headers (linux-libc-dev)"
        );
    }

    fn multiarch_include() -> Option<String> {
        let arch = env::var("CARGO_CFG_TARGET_ARCH").ok()?;
        let os = env::var("CARGO_CFG_TARGET_OS").ok()?;
        let env_ = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
        let dir = format!("/usr/include/{arch}-{os}-{env_}");
        std::path::Path::new(&dir).is_dir().then_some(dir)
    }
}
