//! What a node shares beyond its record (`Coord::put` / `Coord::get_many`: its classroom boxes for
//! the fleet view on other nodes) on a real Redis (Debian's `redis-server`, started on a free
//! loopback port), and a command whose caller is dropped mid-way: its late reply must never
//! answer the next command on the shared connection.

use std::time::{Duration, Instant};

use lectern_coord::Coord;
use lectern_coord::redis::Redis;

mod support;
use support::Server;

#[tokio::test]
async fn shared_values_live_for_their_ttl_and_read_in_one_go() {
    let server = Server::start();
    for coord in [Coord::local(), Coord::redis(server.url())] {
        coord.put("fleet:a", "[1]", 300).await.expect("put");
        coord.put("fleet:b", "[2]", 60_000).await.expect("put");
        let keys = ["fleet:a", "fleet:none", "fleet:b"].map(str::to_owned);
        assert_eq!(coord.get_many(&keys).await.expect("get"), [Some("[1]".into()), None, Some("[2]".into())]);
        assert_eq!(coord.get_many(&[]).await.expect("no keys"), Vec::<Option<String>>::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        while coord.get_many(&keys[..1]).await.expect("get")[0].is_some() {
            assert!(Instant::now() < deadline, "fleet:a outlived its TTL");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(coord.get_many(&keys[2..]).await.expect("get"), [Some("[2]".into())], "the other one lives on");
    }
}

#[tokio::test]
async fn a_command_whose_caller_went_away_never_answers_the_next_one() {
    let server = Server::start();
    let coord = Coord::redis(server.url());
    coord.put("fleet:a", "[1]", 60_000).await.expect("put");
    // Hold every reply back for a while: the next command is written, then its caller gives up.
    let mut admin = Redis::connect(&server.url(), Duration::from_secs(2)).await.expect("connect");
    admin.call(&[b"CLIENT", b"PAUSE", b"600", b"ALL"]).await.expect("CLIENT PAUSE");
    let gave_up = tokio::time::timeout(Duration::from_millis(100), coord.holder("lab")).await;
    assert!(gave_up.is_err(), "the paused command did not answer in time");
    // Its reply (nil: nobody holds "lab") comes later; the next command must get its own.
    let keys = ["fleet:a".to_owned()];
    assert_eq!(coord.get_many(&keys).await.expect("get"), [Some("[1]".into())]);
    assert_eq!(coord.holder("lab").await.expect("holder"), None);
}
