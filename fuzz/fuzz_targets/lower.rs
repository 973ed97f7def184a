//! Arbitrary bytes → (lossy UTF-8) → `lower::lower` (parse, convert, lower), with a resolver
//! that answers every reference with a small image config (env, workdir, user, one layer,
//! and an ONBUILD trigger for references containing `trigger`).
#![no_main]

use kiln_frontend::image::{ContainerConfig, History, ImageConfig, Platform, RootFs};
use kiln_frontend::lower::{lower, BuildOptions, ImageResolver, ResolvedImage};
use libfuzzer_sys::fuzz_target;

/// Resolves any reference to the same small Linux image.
struct AnyImage;

impl ImageResolver for AnyImage {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        if reference.contains("missing") {
            return Err(format!("{reference}: not found"));
        }
        let on_build = reference.contains("trigger").then(|| {
            vec![
                "RUN echo triggered".to_string(),
                "ENV FROM_TRIGGER=1".to_string(),
            ]
        });
        Ok(ResolvedImage {
            name: format!("docker.io/library/{reference}"),
            manifest_digest: format!("sha256:{}", "b".repeat(64)),
            config: ImageConfig {
                architecture: platform.architecture.clone(),
                os: platform.os.clone(),
                config: ContainerConfig {
                    env: Some(vec![
                        "PATH=/usr/local/bin:/usr/bin:/bin".into(),
                        "BASEVAR=base".into(),
                    ]),
                    cmd: Some(vec!["sh".into()]),
                    working_dir: Some("/home".into()),
                    user: Some("nobody".into()),
                    on_build,
                    ..Default::default()
                },
                rootfs: RootFs {
                    kind: "layers".into(),
                    diff_ids: vec![format!("sha256:{}", "a".repeat(64))],
                },
                history: vec![History {
                    created_by: Some("ADD rootfs.tar /".into()),
                    ..Default::default()
                }],
                ..Default::default()
            },
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut opts = BuildOptions::default();
    opts.build_args.insert("FUZZ_ARG".into(), "value".into());
    let _ = lower(&text, &opts, &AnyImage);
});
