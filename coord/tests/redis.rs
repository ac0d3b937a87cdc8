//! The lease scripts against a real Redis ([`support::Server`]). The answers
//! expected are the model's ([`lectern_coord::model`], whose own tests walk the same steps).

use std::time::{Duration, Instant};

use lectern_coord::redis::Redis;
use lectern_coord::registry::{Load, NodeRecord};
use std::sync::Arc;

use lectern_coord::{Coord, LeaseTiming, Leases, LocalFence, Reply, Request};

mod support;
use support::Server;

/// Short leases, so the test waits out a grace period quickly (on Redis's clock).
const TTL: u64 = 600;

fn acquire(node: &str) -> Request {
    Request::Acquire { node: node.into(), floor: 0, ttl: TTL }
}

fn renew(token: &str) -> Request {
    let floor = lectern_coord::lease::epoch_of(token).unwrap_or(0);
    Request::Renew { token: token.into(), floor, ttl: TTL }
}

/// Acquires until the store's grace is over, checking what it says meanwhile; returns the epoch.
async fn acquire_after_grace(redis: &mut Redis, room: &str, node: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match redis.lease(room, &acquire(node)).await.expect("acquire") {
            Reply::Acquired { epoch } => return epoch,
            Reply::Grace { remaining } => {
                assert!(remaining <= TTL, "grace of {remaining} ms is longer than a lease");
                tokio::time::sleep(Duration::from_millis(remaining)).await;
            }
            other => panic!("acquire of a free room answered {other:?}"),
        }
        assert!(Instant::now() < deadline, "the grace never ended");
    }
}

#[tokio::test]
async fn leases_on_redis_behave_as_the_model() {
    let mut server = Server::start();
    let mut a = Redis::connect(&server.url(), Duration::from_secs(5)).await.expect("connect");
    let mut b = Redis::connect(&server.url(), Duration::from_secs(5)).await.expect("connect");

    // A fresh store: nobody acquires for one lease period, an owner's renewal is let through.
    assert!(matches!(a.lease("r1", &acquire("a")).await.unwrap(), Reply::Grace { .. }));
    assert_eq!(acquire_after_grace(&mut a, "r1", "a").await, 1);
    assert_eq!(b.lease("r1", &acquire("b")).await.unwrap(), Reply::Held { owner: "a#1".into() });
    assert_eq!(b.lease("r1", &renew("b#1")).await.unwrap(), Reply::Held { owner: "a#1".into() });
    assert_eq!(a.lease("r1", &renew("a#1")).await.unwrap(), Reply::Granted);

    // Release is compare-and-delete; every new lease has the next epoch.
    assert_eq!(b.lease("r1", &Request::Release { token: "b#1".into() }).await.unwrap(), Reply::Released);
    assert_eq!(b.lease("r1", &acquire("b")).await.unwrap(), Reply::Held { owner: "a#1".into() });
    assert_eq!(a.lease("r1", &Request::Release { token: "a#1".into() }).await.unwrap(), Reply::Released);
    assert_eq!(b.lease("r1", &acquire("b")).await.unwrap(), Reply::Acquired { epoch: 2 });

    // A lease nobody renews lapses on Redis's clock.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match a.lease("r1", &acquire("a")).await.unwrap() {
            Reply::Acquired { epoch } => {
                assert_eq!(epoch, 3);
                break;
            }
            Reply::Held { owner } => assert_eq!(owner, "b#2"),
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "b's lease never lapsed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Redis restarts empty, epoch counters and all: the owner's renewal re-creates its key under
    // a new epoch above its own; the other node meets a grace first, then the owner.
    server.restart();
    let mut a = Redis::connect(&server.url(), Duration::from_secs(5)).await.expect("reconnect");
    let mut b = Redis::connect(&server.url(), Duration::from_secs(5)).await.expect("reconnect");
    assert!(matches!(b.lease("r1", &acquire("b")).await.unwrap(), Reply::Grace { .. }));
    assert_eq!(a.lease("r1", &renew("a#3")).await.unwrap(), Reply::Acquired { epoch: 4 });
    tokio::time::sleep(Duration::from_millis(TTL / 2)).await;
    assert_eq!(a.lease("r1", &renew("a#4")).await.unwrap(), Reply::Granted);
    tokio::time::sleep(Duration::from_millis(TTL / 2 + 50)).await;
    assert_eq!(b.lease("r1", &acquire("b")).await.unwrap(), Reply::Held { owner: "a#4".into() });

    // A node that knows a higher epoch (from the database's fence) gets a lease above it.
    assert_eq!(a.lease("r1", &Request::Release { token: "a#4".into() }).await.unwrap(), Reply::Released);
    let above = Request::Acquire { node: "b".into(), floor: 41, ttl: TTL };
    assert_eq!(b.lease("r1", &above).await.unwrap(), Reply::Acquired { epoch: 42 });
    assert_eq!(b.lease("r2", &acquire("b")).await.unwrap(), Reply::Acquired { epoch: 1 }, "epochs are per room");
}

#[tokio::test]
async fn a_dead_redis_is_an_error_not_a_hang() {
    let server = Server::start();
    let url = server.url();
    let mut a = Redis::connect(&url, Duration::from_secs(2)).await.expect("connect");
    drop(server);
    let started = Instant::now();
    assert!(a.lease("r1", &acquire("a")).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(Redis::connect(&url, Duration::from_secs(2)).await.is_err());
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Two nodes' lease tasks over Redis; Redis is killed and comes back empty mid-lesson: the owner
/// keeps its room throughout (new joins may be refused while Redis is down, the lease lapses only
/// if Redis stays away longer than a lease), and the other node never owns it meanwhile.
#[tokio::test]
async fn the_owner_keeps_its_room_when_redis_restarts() {
    let mut server = Server::start();
    let timing = LeaseTiming { ttl: 1_500, renew_every: 300, retry_every: 100 };
    // Both nodes record their epochs in one fence, as they would in one PostgreSQL.
    let fence = Arc::new(LocalFence::default());
    let a = Leases::spawn(Coord::redis(server.url()), fence.clone(), "a", timing);
    let b = Leases::spawn(Coord::redis(server.url()), fence.clone(), "b", timing);
    a.want("lab-1");
    until("a owns lab-1", || a.owns("lab-1")).await;
    b.want("lab-1");
    until("b hears that a owns lab-1", || b.owner("lab-1").as_deref() == Some("a")).await;
    server.restart();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        assert!(!b.owns("lab-1"), "b took lab-1 after the restart");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(a.owns("lab-1"), "a renewed its lease back after the restart");
    let epoch = a.epoch("lab-1").expect("a's epoch");
    assert!(epoch >= 2, "a's key was re-created under a new epoch, fenced: {epoch}");
    assert!(fence.admits("lab-1", epoch));
}

#[tokio::test]
async fn the_registry_and_pub_sub_work_across_a_restart() {
    let mut server = Server::start();
    let coord = Coord::redis(server.url());
    let record = |id: &str| NodeRecord {
        id: id.into(),
        public_url: format!("http://{id}.test"),
        media: vec![],
        serving: true,
        load: Load::default(),
        boxes: vec![],
    };
    coord.register(&record("a")).await.unwrap();
    coord.register(&record("b")).await.unwrap();
    let ids: Vec<_> = coord.nodes().await.unwrap().into_iter().map(|n| n.id).collect();
    assert_eq!(ids, ["a", "b"]);

    let mut rx = coord.subscribe("fleet");
    // The subscription is made asynchronously: publish until it is heard.
    let heard = async {
        loop {
            coord.publish("fleet", "hello").await.unwrap();
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                return m;
            }
        }
    };
    assert_eq!(tokio::time::timeout(Duration::from_secs(20), heard).await.unwrap(), "hello");

    server.restart();
    // The first command after the restart fails (its connection died) and the next reconnects.
    let _ = coord.register(&record("a")).await;
    coord.register(&record("a")).await.unwrap();
    assert_eq!(coord.nodes().await.unwrap().len(), 1, "b's record died with the old Redis");
    let heard = async {
        loop {
            let _ = coord.publish("fleet", "again").await;
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                return m;
            }
        }
    };
    assert_eq!(tokio::time::timeout(Duration::from_secs(20), heard).await.unwrap(), "again");
}
