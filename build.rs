//! Build script: compiles our slim OTLP schema (`proto/epicenter/v1/otlp_slim.proto`)
//! with prost into `OUT_DIR`, using the vendored `protoc` so that no system
//! `protoc` is needed. The full OTLP types come from the `opentelemetry-proto` crate.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_with_config(config, &["proto/epicenter/v1/otlp_slim.proto"], &["proto"])?;
    Ok(())
}
