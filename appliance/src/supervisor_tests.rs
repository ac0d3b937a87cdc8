use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

const CAP: Duration = Duration::from_secs(7);

fn supervisor(seed: u64) -> Supervisor<StdRng> {
    Supervisor::new(SupervisorConfig::default(), StdRng::seed_from_u64(seed))
}

/// All queued actions, and the wake-up instant that ends them (if any).
fn drain(s: &mut Supervisor<StdRng>) -> (Vec<Output>, Option<Instant>) {
    let mut actions = Vec::new();
    while let Some(out) = s.poll_output() {
        match out {
            Output::WaitUntil(at) => return (actions, Some(at)),
            other => actions.push(other),
        }
    }
    (actions, None)
}

fn has(actions: &[Output], wanted: &Output) -> bool {
    actions.iter().any(|a| a == wanted)
}

/// Fails the current attempt and returns how long the supervisor waits before retrying.
fn fail_attempt(s: &mut Supervisor<StdRng>, now: Instant, retryable: bool) -> Duration {
    s.handle_input(Input::PublishFailed { retryable, reason: "test".into() }, now);
    let (actions, wake) = drain(s);
    assert!(
        has(&actions, &Output::Detach),
        "a failed attempt is detached (its resource kept for the next to take over)"
    );
    wake.expect("a retry is scheduled") - now
}

/// Ticks at the retry instant and checks a new attempt starts.
fn retry_at(s: &mut Supervisor<StdRng>, at: Instant) {
    s.handle_input(Input::Tick, at);
    let (actions, _) = drain(s);
    assert!(has(&actions, &Output::BuildAndPublish), "the retry builds and publishes");
}

/// Publishes, connects, and lets the return feed connect too.
fn go_live(s: &mut Supervisor<StdRng>, now: Instant) {
    s.handle_input(Input::Published, now);
    s.handle_input(Input::Connected, now);
    let (actions, _) = drain(s);
    assert!(has(&actions, &Output::StartFeed), "going live starts the return feed");
    s.handle_input(Input::FeedConnected, now);
    drain(s);
    assert!(matches!(s.state(), State::Live { .. }));
    assert_eq!(s.feed(), FeedState::Playing);
}

/// Publishes and connects, leaving the return feed starting.
fn go_live_feed_starting(s: &mut Supervisor<StdRng>, now: Instant) -> Vec<Output> {
    s.handle_input(Input::Start, now);
    s.handle_input(Input::Published, now);
    drain(s);
    s.handle_input(Input::Connected, now);
    drain(s).0
}

fn fail_feed(s: &mut Supervisor<StdRng>, now: Instant) -> Duration {
    s.handle_input(Input::FeedFailed { reason: "test".into() }, now);
    let (actions, _) = drain(s);
    assert_eq!(actions[0], Output::StopFeed, "a failed feed is stopped first: {actions:?}");
    assert!(!has(&actions, &Output::Teardown), "publishing carries on: {actions:?}");
    match s.feed() {
        FeedState::Waiting { retry_at } => retry_at - now,
        other => panic!("feed not waiting: {other:?}"),
    }
}

#[test]
fn start_builds_and_publishes_with_a_connect_deadline() {
    let mut s = supervisor(1);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    let (actions, wake) = drain(&mut s);
    assert_eq!(actions, vec![Output::Status("connecting".into()), Output::BuildAndPublish]);
    assert_eq!(wake, Some(t0 + SupervisorConfig::default().connect_timeout));
}

#[test]
fn backoff_grows_exponentially_and_caps_at_seven_seconds() {
    let mut s = supervisor(7);
    let mut now = Instant::now();
    s.handle_input(Input::Start, now);
    drain(&mut s);
    for n in 0..12u32 {
        let ceiling = (Duration::from_millis(250) * 2u32.pow(n)).min(CAP);
        let delay = fail_attempt(&mut s, now, true);
        assert!(
            delay >= ceiling / 2 && delay <= ceiling,
            "attempt {n}: {delay:?} not in [{:?}, {ceiling:?}]",
            ceiling / 2
        );
        now += delay;
        retry_at(&mut s, now);
    }
}

#[test]
fn no_retry_before_the_backoff_has_elapsed() {
    let mut s = supervisor(3);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    drain(&mut s);
    let delay = fail_attempt(&mut s, t0, true);
    s.handle_input(Input::Tick, t0 + delay - Duration::from_millis(1));
    let (actions, wake) = drain(&mut s);
    assert!(actions.is_empty(), "an early tick does nothing: {actions:?}");
    assert_eq!(wake, Some(t0 + delay), "the wake-up instant is unchanged");
    retry_at(&mut s, t0 + delay);
}

#[test]
fn backoff_resets_after_a_stable_live_session() {
    let mut s = supervisor(11);
    let mut now = Instant::now();
    s.handle_input(Input::Start, now);
    drain(&mut s);
    for _ in 0..6 {
        now += fail_attempt(&mut s, now, true);
        retry_at(&mut s, now);
    }
    go_live(&mut s, now);
    now += Duration::from_secs(3600);
    s.handle_input(Input::ConnectionLost { reason: "hub restarted".into() }, now);
    let (actions, wake) = drain(&mut s);
    assert!(has(&actions, &Output::Detach));
    let delay = wake.expect("retry scheduled") - now;
    assert!(delay <= Duration::from_millis(250), "first retry after a long lesson is quick: {delay:?}");
}

#[test]
fn flapping_sessions_keep_backing_off() {
    let mut s = supervisor(5);
    let mut now = Instant::now();
    s.handle_input(Input::Start, now);
    drain(&mut s);
    let mut last_ceiling = Duration::ZERO;
    for n in 0..6u32 {
        go_live(&mut s, now);
        now += Duration::from_secs(1);
        s.handle_input(Input::ConnectionLost { reason: "ice failed".into() }, now);
        let delay = drain(&mut s).1.expect("retry scheduled") - now;
        let ceiling = (Duration::from_millis(250) * 2u32.pow(n)).min(CAP);
        assert!(delay >= ceiling / 2, "flap {n}: {delay:?} should be at least {:?}", ceiling / 2);
        last_ceiling = ceiling;
        now += delay;
        retry_at(&mut s, now);
    }
    assert_eq!(last_ceiling, CAP);
}

#[test]
fn rejected_credentials_back_off_to_the_cap_at_once() {
    let mut s = supervisor(9);
    let now = Instant::now();
    s.handle_input(Input::Start, now);
    drain(&mut s);
    let delay = fail_attempt(&mut s, now, false);
    assert!(delay >= CAP / 2 && delay <= CAP, "{delay:?}");
    retry_at(&mut s, now + delay);
    let again = fail_attempt(&mut s, now + delay, false);
    assert!(again >= CAP / 2 && again <= CAP, "stays at the cap: {again:?}");
}

#[test]
fn connect_timeout_tears_down_and_retries() {
    let mut s = supervisor(2);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    let deadline = drain(&mut s).1.expect("connect deadline");
    s.handle_input(Input::Published, t0);
    s.handle_input(Input::Tick, deadline);
    let (actions, wake) = drain(&mut s);
    assert!(has(&actions, &Output::Detach));
    assert!(matches!(s.state(), State::Reconnecting { .. }));
    assert!(wake.is_some_and(|w| w > deadline));
}

#[test]
fn brief_disconnect_within_grace_keeps_the_session() {
    let mut s = supervisor(4);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    let secs = |n| t0 + Duration::from_secs(n);
    s.handle_input(Input::Heard(secs(20)), secs(20));
    s.handle_input(Input::Disconnected, secs(20));
    let (_, wake) = drain(&mut s);
    assert_eq!(wake, Some(secs(25)), "woken when the grace period ends");
    s.handle_input(Input::Connected, secs(22));
    let (actions, wake) = drain(&mut s);
    assert_eq!(actions, vec![Output::Status("live".into())]);
    assert_eq!(wake, Some(secs(26)), "back to watching for silence");
    s.handle_input(Input::Heard(secs(24)), secs(25));
    s.handle_input(Input::Tick, secs(25));
    assert!(matches!(s.state(), State::Live { .. }));
}

#[test]
fn live_session_is_torn_down_when_the_hub_goes_silent() {
    let mut s = supervisor(12);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    s.handle_input(Input::Heard(t0 + Duration::from_secs(30)), t0 + Duration::from_secs(30));
    let silent_at = drain(&mut s).1.expect("silence deadline");
    assert_eq!(silent_at, t0 + Duration::from_secs(36));
    s.handle_input(Input::Tick, silent_at);
    let (actions, _) = drain(&mut s);
    assert!(has(&actions, &Output::Detach));
    assert!(matches!(s.state(), State::Reconnecting { .. }));
}

#[test]
fn packets_from_the_hub_keep_the_session_live() {
    let mut s = supervisor(13);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    for n in 1..100 {
        let now = t0 + Duration::from_secs(n * 5);
        s.handle_input(Input::Heard(now - Duration::from_millis(200)), now);
        s.handle_input(Input::Tick, now);
        assert!(matches!(s.state(), State::Live { .. }), "still live at {n}");
    }
}

#[test]
fn disconnect_longer_than_grace_reconnects() {
    let mut s = supervisor(4);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    s.handle_input(Input::Disconnected, t0 + Duration::from_secs(20));
    let grace_end = drain(&mut s).1.expect("grace deadline");
    s.handle_input(Input::Tick, grace_end);
    let (actions, _) = drain(&mut s);
    assert!(has(&actions, &Output::Detach));
    assert!(matches!(s.state(), State::Reconnecting { .. }));
}

#[test]
fn stop_tears_down_and_ignores_later_events() {
    let mut s = supervisor(6);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    s.handle_input(Input::Stop, t0);
    let (actions, wake) = drain(&mut s);
    assert_eq!(
        actions,
        vec![
            Output::StopFeed,
            Output::Feed { state: FeedState::Off, reason: None },
            Output::Teardown,
            Output::Status("stopped".into())
        ]
    );
    assert_eq!(wake, None);
    s.handle_input(Input::ConnectionLost { reason: "late".into() }, t0);
    s.handle_input(Input::Connected, t0);
    assert_eq!(drain(&mut s), (vec![], None));
    assert_eq!(s.state(), &State::Idle);
}

#[test]
fn events_from_a_torn_down_session_are_ignored_while_waiting() {
    let mut s = supervisor(8);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    drain(&mut s);
    let delay = fail_attempt(&mut s, t0, true);
    s.handle_input(Input::Connected, t0);
    s.handle_input(Input::ConnectionLost { reason: "stale".into() }, t0);
    assert_eq!(drain(&mut s), (vec![], Some(t0 + delay)));
}

#[test]
fn same_seed_same_delays_different_seeds_spread() {
    let delays = |seed| {
        let mut s = supervisor(seed);
        let mut now = Instant::now();
        s.handle_input(Input::Start, now);
        drain(&mut s);
        (0..8)
            .map(|_| {
                let d = fail_attempt(&mut s, now, true);
                now += d;
                retry_at(&mut s, now);
                d
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(delays(42), delays(42));
    assert_ne!(delays(42), delays(43));
}

#[test]
fn going_live_starts_the_return_feed_with_a_deadline() {
    let mut s = supervisor(20);
    let t0 = Instant::now();
    let actions = go_live_feed_starting(&mut s, t0);
    let deadline = t0 + SupervisorConfig::default().connect_timeout;
    assert_eq!(
        actions,
        vec![
            Output::Status("live".into()),
            Output::StartFeed,
            Output::Feed { state: FeedState::Starting { deadline }, reason: None },
        ]
    );
    // While the hub is heard from, the feed's deadline is the next thing to wake for.
    s.handle_input(Input::Heard(t0 + Duration::from_secs(10)), t0 + Duration::from_secs(10));
    assert_eq!(s.poll_output(), Some(Output::WaitUntil(deadline)), "woken for the feed's deadline");
    s.handle_input(Input::FeedConnected, t0 + Duration::from_secs(1));
    assert_eq!(drain(&mut s).0, vec![Output::Feed { state: FeedState::Playing, reason: None }]);
}

#[test]
fn a_failed_feed_retries_later_and_publishing_stays_live() {
    let mut s = supervisor(21);
    let t0 = Instant::now();
    go_live_feed_starting(&mut s, t0);
    let delay = fail_feed(&mut s, t0);
    assert!(delay >= Duration::from_millis(500) && delay <= Duration::from_secs(1), "{delay:?}");
    assert!(matches!(s.state(), State::Live { .. }));
    s.handle_input(Input::Tick, t0 + delay - Duration::from_millis(1));
    assert!(!has(&drain(&mut s).0, &Output::StartFeed), "not before the retry instant");
    s.handle_input(Input::Heard(t0 + delay), t0 + delay);
    s.handle_input(Input::Tick, t0 + delay);
    assert!(has(&drain(&mut s).0, &Output::StartFeed), "retried");
    assert!(matches!(s.feed(), FeedState::Starting { .. }));
}

#[test]
fn feed_backoff_grows_caps_and_resets_once_it_plays() {
    let mut s = supervisor(22);
    let mut now = Instant::now();
    go_live_feed_starting(&mut s, now);
    let mut delays = Vec::new();
    for _ in 0..6 {
        let delay = fail_feed(&mut s, now);
        delays.push(delay);
        now += delay;
        // The hub is still heard from: only the feed is in trouble.
        s.handle_input(Input::Heard(now), now);
        s.handle_input(Input::Tick, now);
        assert!(has(&drain(&mut s).0, &Output::StartFeed));
    }
    assert!(delays[3] > delays[0], "grows: {delays:?}");
    assert!(delays.iter().all(|d| *d <= CAP), "capped: {delays:?}");
    s.handle_input(Input::FeedConnected, now);
    drain(&mut s);
    assert!(fail_feed(&mut s, now) <= Duration::from_secs(1), "a feed that played starts over");
}

#[test]
fn a_feed_that_never_connects_times_out_and_retries() {
    let mut s = supervisor(23);
    let t0 = Instant::now();
    go_live_feed_starting(&mut s, t0);
    let deadline = t0 + SupervisorConfig::default().connect_timeout;
    s.handle_input(Input::Heard(deadline), deadline);
    s.handle_input(Input::Tick, deadline);
    let (actions, _) = drain(&mut s);
    assert_eq!(actions[0], Output::StopFeed);
    assert!(matches!(
        &actions[1],
        Output::Feed { state: FeedState::Waiting { .. }, reason: Some(r) } if r.contains("timed out")
    ));
    assert!(matches!(s.state(), State::Live { .. }));
}

#[test]
fn losing_the_publish_session_stops_the_feed_before_the_teardown() {
    let mut s = supervisor(24);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    s.handle_input(Input::ConnectionLost { reason: "gone".into() }, t0);
    let (actions, _) = drain(&mut s);
    let stop = actions.iter().position(|a| *a == Output::StopFeed).expect("feed stopped");
    let teardown = actions.iter().position(|a| *a == Output::Detach).expect("detached");
    assert!(stop < teardown, "{actions:?}");
    assert_eq!(s.feed(), FeedState::Off);
    // A late event of the stopped feed changes nothing; nor does one while reconnecting.
    s.handle_input(Input::FeedConnected, t0);
    s.handle_input(Input::FeedFailed { reason: "late".into() }, t0);
    assert!(drain(&mut s).0.is_empty());
    assert_eq!(s.feed(), FeedState::Off);
}

#[test]
fn feed_events_before_going_live_are_ignored() {
    let mut s = supervisor(25);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    drain(&mut s);
    s.handle_input(Input::FeedConnected, t0);
    s.handle_input(Input::FeedFailed { reason: "stale".into() }, t0);
    assert!(drain(&mut s).0.is_empty());
    assert_eq!(s.feed(), FeedState::Off);
}

fn statuses(actions: &[Output]) -> Vec<&str> {
    actions.iter().filter_map(|a| if let Output::Status(s) = a { Some(s.as_str()) } else { None }).collect()
}

#[test]
fn a_lost_camera_goes_audio_only_keeps_the_session_and_is_reopened_when_back() {
    let mut s = supervisor(21);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    let lost = Input::SourceLost { kind: SourceKind::Camera, reason: "video-src: device gone".into() };
    s.handle_input(lost, t0);
    let (actions, wake) = drain(&mut s);
    assert_eq!(actions[0], Output::UseStandIn(SourceKind::Camera), "{actions:?}");
    assert!(!has(&actions, &Output::Teardown), "the session stays up: {actions:?}");
    assert_eq!(statuses(&actions), ["live; audio only: camera lost (video-src: device gone)"]);
    assert!(s.source_lost(SourceKind::Camera) && matches!(s.state(), State::Live { .. }));
    let poll = SupervisorConfig::default().source_poll;
    assert_eq!(wake, Some(t0 + poll), "the device is looked for after the poll interval");

    // Not back yet: looked for again one interval later, the hub still heard from meanwhile.
    s.handle_input(Input::Heard(t0 + poll), t0 + poll);
    s.handle_input(Input::Tick, t0 + poll);
    let (actions, wake) = drain(&mut s);
    assert_eq!(actions, [Output::CheckSource(SourceKind::Camera)]);
    assert_eq!(wake, Some(t0 + poll * 2));

    s.handle_input(Input::SourcePresent { kind: SourceKind::Camera }, t0 + poll);
    let (actions, _) = drain(&mut s);
    assert_eq!(actions, [Output::Reopen(SourceKind::Camera), Output::Status("live".into())]);
    assert!(!s.source_lost(SourceKind::Camera));
}

#[test]
fn a_repeated_source_error_does_not_switch_twice_and_both_lost_says_so() {
    let mut s = supervisor(22);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    for reason in ["a", "b"] {
        s.handle_input(Input::SourceLost { kind: SourceKind::Microphone, reason: reason.into() }, t0);
    }
    let (actions, _) = drain(&mut s);
    let switches = actions.iter().filter(|a| matches!(a, Output::UseStandIn(_))).count();
    assert_eq!(switches, 1, "{actions:?}");
    assert_eq!(statuses(&actions).last(), Some(&"live; video only: microphone lost (b)"));
    s.handle_input(Input::SourceLost { kind: SourceKind::Camera, reason: "c".into() }, t0);
    let (actions, _) = drain(&mut s);
    assert_eq!(statuses(&actions), ["live; no camera or microphone: camera lost (c), microphone lost (b)"]);
}

#[test]
fn a_lost_device_stays_lost_across_a_reconnect_and_is_forgotten_when_the_lesson_ends() {
    let mut s = supervisor(23);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    s.handle_input(Input::SourceLost { kind: SourceKind::Camera, reason: "gone".into() }, t0);
    drain(&mut s);
    s.handle_input(Input::ConnectionLost { reason: "hub restarted".into() }, t0);
    let (actions, wake) = drain(&mut s);
    assert!(statuses(&actions).iter().all(|st| !st.contains("audio only")), "reconnecting says why: {actions:?}");
    assert!(s.source_lost(SourceKind::Camera), "the next pipeline starts on the stand-in");
    retry_at(&mut s, wake.expect("retry"));
    s.handle_input(Input::Stop, t0 + Duration::from_secs(60));
    assert!(!s.source_lost(SourceKind::Camera), "the next lesson opens the camera afresh");
}

#[test]
fn source_events_while_idle_are_ignored() {
    let mut s = supervisor(24);
    let t0 = Instant::now();
    s.handle_input(Input::SourceLost { kind: SourceKind::Camera, reason: "x".into() }, t0);
    s.handle_input(Input::SourcePresent { kind: SourceKind::Camera }, t0);
    assert_eq!(drain(&mut s), (vec![], None));
    assert!(!s.source_lost(SourceKind::Camera));
}

#[test]
fn a_lost_laptop_keeps_the_lesson_live_and_says_so_beside_a_lost_camera() {
    let mut s = supervisor(25);
    let t0 = Instant::now();
    s.handle_input(Input::Start, t0);
    go_live(&mut s, t0);
    s.handle_input(Input::SourceLost { kind: SourceKind::Content, reason: "content-src: unplugged".into() }, t0);
    let (actions, _) = drain(&mut s);
    assert_eq!(actions[0], Output::UseStandIn(SourceKind::Content), "{actions:?}");
    assert!(!has(&actions, &Output::Teardown), "the session stays up: {actions:?}");
    assert_eq!(statuses(&actions), ["live; no laptop picture: content lost (content-src: unplugged)"]);
    s.handle_input(Input::SourceLost { kind: SourceKind::Camera, reason: "c".into() }, t0);
    let (actions, _) = drain(&mut s);
    assert_eq!(
        statuses(&actions),
        ["live; audio only: camera lost (c); no laptop picture: content lost (content-src: unplugged)"]
    );
    s.handle_input(Input::SourcePresent { kind: SourceKind::Content }, t0);
    let (actions, _) = drain(&mut s);
    assert_eq!(actions[0], Output::Reopen(SourceKind::Content), "{actions:?}");
}

#[test]
fn a_broken_session_is_replaced_make_before_break() {
    let mut s = supervisor(31);
    let mut now = Instant::now();
    s.handle_input(Input::Start, now);
    go_live(&mut s, now);
    s.handle_input(Input::ConnectionLost { reason: "network changed".into() }, now);
    let (actions, wake) = drain(&mut s);
    assert!(has(&actions, &Output::Detach) && !has(&actions, &Output::Teardown), "kept for a takeover: {actions:?}");
    // The first retry fails too: its own resource is detached in turn, nothing released yet.
    now = wake.expect("retry scheduled");
    retry_at(&mut s, now);
    now += fail_attempt(&mut s, now, true);
    retry_at(&mut s, now);
    s.handle_input(Input::Published, now);
    s.handle_input(Input::Connected, now);
    let (actions, _) = drain(&mut s);
    let release = actions.iter().position(|a| *a == Output::ReleaseReplaced).expect("the old session is released");
    assert_eq!(actions.iter().filter(|a| **a == Output::ReleaseReplaced).count(), 1, "{actions:?}");
    assert!(release < actions.iter().position(|a| *a == Output::StartFeed).unwrap_or(usize::MAX), "{actions:?}");
    // Later reconnects release nothing more until a session is detached again.
    s.handle_input(Input::Disconnected, now);
    s.handle_input(Input::Connected, now);
    assert!(!has(&drain(&mut s).0, &Output::ReleaseReplaced));
}

#[test]
fn stopping_while_reconnecting_ends_the_detached_session_too() {
    let mut s = supervisor(32);
    let now = Instant::now();
    s.handle_input(Input::Start, now);
    go_live(&mut s, now);
    s.handle_input(Input::ConnectionLost { reason: "gone".into() }, now);
    drain(&mut s);
    s.handle_input(Input::Stop, now);
    let (actions, _) = drain(&mut s);
    assert!(has(&actions, &Output::Teardown), "the detached resource is deleted: {actions:?}");
    // A new lesson starts clean: its first connection releases nothing.
    s.handle_input(Input::Start, now);
    s.handle_input(Input::Published, now);
    s.handle_input(Input::Connected, now);
    assert!(!has(&drain(&mut s).0, &Output::ReleaseReplaced));
}
