//! The lease task on the in-process store: one node takes a room, another learns who has it and
//! takes it over once it is given up, under a higher epoch the shared fence then holds to.

use std::time::{Duration, Instant};

use std::sync::Arc;

use lectern_coord::{Coord, LeaseTiming, Leases, LocalFence};

const TIMING: LeaseTiming = LeaseTiming { ttl: 1_000, renew_every: 250, retry_every: 100 };

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_room_has_one_owner_and_changes_hands_when_given_up() {
    let coord = Coord::local();
    let fence = Arc::new(LocalFence::default());
    let a = Leases::spawn(coord.clone(), fence.clone(), "a", TIMING);
    let b = Leases::spawn(coord.clone(), fence.clone(), "b", TIMING);
    a.want("lab-1");
    until("a owns lab-1", || a.owns("lab-1")).await;
    b.want("lab-1");
    until("b hears that a owns lab-1", || b.owner("lab-1").as_deref() == Some("a")).await;
    // Renewed well past one ttl, and b never gets it meanwhile.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2_500) {
        assert!(a.owns("lab-1") && !b.owns("lab-1"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = a.epoch("lab-1").expect("an owner has an epoch");
    assert_eq!(b.epoch("lab-1"), None);
    assert!(fence.admits("lab-1", first));
    a.give_up("lab-1");
    until("b takes lab-1 over", || b.owns("lab-1")).await;
    assert!(!a.owns("lab-1"));
    let second = b.epoch("lab-1").expect("the new owner's epoch");
    assert!(second > first, "epochs rise: {first} then {second}");
    assert!(!fence.admits("lab-1", first), "a write of the old owner is refused");
    assert!(fence.admits("lab-1", second));
    assert_eq!(a.owner("lab-1"), None, "a forgets a room it let go");
}
