//! Runs the TURN server alone, for manual checks with a TURN client:
//! `cargo run -p peer-turn --example turn-server -- 127.0.0.1:3478 SECRET [ALLOW-RANGE...]`.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:3478".into())
        .parse()?;
    let secret = args.next().unwrap_or_else(|| "secret".into()).into_bytes();
    let relay_allow = args.map(|a| a.parse()).collect::<Result<Vec<_>, _>>()?;
    let server = peer_turn::TurnServer::start(peer_turn::TurnConfig {
        listen,
        secret,
        relay_allow,
        ..Default::default()
    })
    .await?;
    println!("TURN server on {}", server.local_addr());
    tokio::signal::ctrl_c().await?;
    println!("{:?}", server.stats());
    Ok(())
}
