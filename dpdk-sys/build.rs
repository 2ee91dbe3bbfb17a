//! Without the `dpdk` feature: nothing (the crate is empty). With it: finds DPDK with
//! pkg-config, compiles the C shim and generates bindings for the allowlisted API.

fn main() {
    #[cfg(feature = "dpdk")]
    dpdk::build();
}

#[cfg(feature = "dpdk")]
mod dpdk {
    use std::env;
    use std::path::PathBuf;

    /// DPDK 22.11 is Debian 12's; the shim touches mbuf fields whose layout changes only
    /// with the ABI, which the header and library we compile against keep in step.
    const MIN_VERSION: &str = "22.11";

    pub fn build() {
        println!("cargo:rerun-if-changed=shim/shim.h");
        println!("cargo:rerun-if-changed=shim/shim.c");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

        // Linked dynamically: EAL only loads the PMD plugins from its driver directory
        // (RTE_EAL_PMD_PATH, e.g. /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0) when it finds
        // itself loaded as librte_eal.so, so net_tap and friends work without `-d`.
        let lib = pkg_config::Config::new()
            .atleast_version(MIN_VERSION)
            .probe("libdpdk")
            .unwrap_or_else(|e| {
                panic!(
                    "the `dpdk` feature needs DPDK >= {MIN_VERSION} development files \
                     (Debian: apt-get install libdpdk-dev libclang-dev pkg-config): {e}"
                )
            });

        let mut cc = cc::Build::new();
        cc.file("shim/shim.c").warnings(true);
        for p in &lib.include_paths {
            cc.include(p);
        }
        // `rte_config.h` must come first (the pkg-config cflags say `-include rte_config.h`)
        // and the fast path wants the ISA DPDK was built for (-march).
        let cflags =
            std::process::Command::new(env::var("PKG_CONFIG").unwrap_or("pkg-config".into()))
                .args(["--cflags-only-other", "libdpdk"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
        let mut extra: Vec<String> = Vec::new();
        let mut words = cflags.split_whitespace();
        while let Some(w) = words.next() {
            if w == "-include" {
                if let Some(f) = words.next() {
                    extra.push("-include".into());
                    extra.push(f.into());
                }
            } else if w.starts_with("-m") {
                extra.push(w.into());
            }
        }
        if !extra.iter().any(|w| w == "-include") {
            extra.push("-include".into());
            extra.push("rte_config.h".into());
        }
        for f in &extra {
            cc.flag(f);
        }
        cc.compile("rtpbolt_dpdk_shim");

        let mut b = bindgen::Builder::default()
            .header("shim/shim.h")
            .clang_args(extra.iter().cloned())
            .clang_args(lib.include_paths.iter().map(|p| format!("-I{}", p.display())))
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
            .allowlist_function("rte_eal_(init|cleanup|process_type)")
            .allowlist_function("rte_eth_(dev_configure|dev_start|dev_stop|dev_close|dev_info_get|dev_get_mtu|dev_socket_id|dev_count_avail|dev_is_valid_port|dev_get_port_by_name|dev_get_name_by_port|rx_queue_setup|tx_queue_setup|macaddr_get|promiscuous_enable|allmulticast_enable|dev_adjust_nb_rx_tx_desc|link_get_nowait|dev_set_link_up|find_next_owned_by)")
            .allowlist_function("rte_pktmbuf_(pool_create|free_bulk)")
            .allowlist_function("rte_mempool_(free|avail_count|in_use_count)")
            .allowlist_function("rte_dev_(probe|remove)")
            .allowlist_function("rte_lcore_(count|to_socket_id)")
            .allowlist_function("rte_thread_(register|unregister)")
            .allowlist_function("rte_socket_id")
            .allowlist_function("rte_strerror")
            .allowlist_function("rtpbolt_.*")
            .allowlist_var("RTE_ETH_MQ_.*|RTE_ETH_NAME_MAX_LEN|RTE_MAX_ETHPORTS|RTE_PKTMBUF_HEADROOM|RTE_MBUF_DEFAULT_BUF_SIZE|SOCKET_ID_ANY|E[A-Z0-9]+")
            // The mbuf is only ever handled by pointer; its fields go through the shim, so
            // its unions and bitfields need no Rust layout.
            .opaque_type("rte_mbuf")
            .opaque_type("rte_mempool")
            .derive_default(true)
            .layout_tests(false)
            .generate_comments(false)
            .use_core();
        if let Ok(v) = env::var("DPDK_SYS_CLANG_ARGS") {
            b = b.clang_args(v.split_whitespace().map(String::from));
        }
        let bindings = b.generate().expect("bindgen failed on shim/shim.h");
        let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        bindings
            .write_to_file(out.join("bindings.rs"))
            .expect("writing bindings.rs");
    }
}
