//! Compiles `hstry.proto` with protox (a protobuf compiler in Rust), so the build needs no
//! system `protoc`, and hands the descriptors to tonic for the message and service code.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTO: &str = "hstry.proto";
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
