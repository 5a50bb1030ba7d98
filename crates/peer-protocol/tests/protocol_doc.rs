//! `docs/protocol.md` is generated from the catalogue; this test fails when it is stale
//! (regenerate with `cargo xtask codegen`).

#[test]
fn protocol_doc_is_fresh() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    let on_disk = std::fs::read_to_string(path).expect("docs/protocol.md exists");
    assert!(
        on_disk == peer_protocol::catalog::render_markdown(),
        "docs/protocol.md is stale: run `cargo xtask codegen`"
    );
}
