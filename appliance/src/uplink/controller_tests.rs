use super::*;

/// The sample configuration's ladder: 1500 (floor 375) + 500 + 150 kbit/s.
fn ladder() -> Ladder {
    Ladder { top_kbps: 1500, top_floor_kbps: 375, lower_kbps: vec![500, 150] }
}

fn report(loss: f64, rtt_ms: u64) -> Feedback {
    Feedback { loss: Some(loss), rtt: Some(Duration::from_millis(rtt_ms)) }
}

/// Feeds `feedback` once a second for `secs` seconds from `*now`, advancing it.
fn run(c: &mut Controller, now: &mut Instant, secs: u64, feedback: Feedback) {
    for _ in 0..secs {
        *now += Duration::from_secs(1);
        c.handle_feedback(feedback, *now);
    }
}

#[test]
fn a_steady_clean_network_holds_the_configured_rates() {
    let (mut c, mut now) = (Controller::new(ladder()), Instant::now());
    for _ in 0..60 {
        now += Duration::from_secs(1);
        assert_eq!(c.handle_feedback(report(0.0, 40), now), None, "nothing changes");
    }
    assert_eq!(c.layers_kbps(), [1500, 500, 150]);
    assert!(!c.adapting());
    assert_eq!(c.reason(), Reason::Clean);
}

#[test]
fn heavy_loss_cuts_at_once_and_the_main_picture_gives_way_first() {
    let (mut c, now) = (Controller::new(ladder()), Instant::now());
    let layers = c.handle_feedback(report(0.2, 40), now + Duration::from_secs(1)).expect("cut at the first report");
    // 2150 × 0.8 got through; 85 % of it is 1462: the lower layers keep theirs.
    assert_eq!(layers, [812, 500, 150]);
    assert!(c.adapting());
    assert_eq!(c.reason(), Reason::Loss);
}

#[test]
fn a_report_from_before_the_cut_does_not_cut_again() {
    let (mut c, now) = (Controller::new(ladder()), Instant::now());
    c.handle_feedback(report(0.4, 40), now);
    let once = c.budget_kbps();
    assert_eq!(c.handle_feedback(report(0.4, 40), now + Duration::from_secs(1)), None, "within the hold-off");
    assert_eq!(c.budget_kbps(), once);
    // Another stream's report on the same time, worse: judged against the budget before the cut.
    c.handle_feedback(report(0.5, 40), now + Duration::from_millis(1200));
    assert_eq!(c.budget_kbps(), (2150.0 * 0.5 * 0.85f64).round() as u32);
    c.handle_feedback(report(0.45, 40), now + Duration::from_millis(1400));
    assert_eq!(c.budget_kbps(), (2150.0 * 0.5 * 0.85f64).round() as u32, "a milder one changes nothing");
    assert!(c.handle_feedback(report(0.4, 40), now + CUT_HOLDOFF + Duration::from_secs(1)).is_some());
    assert!(c.budget_kbps() < once);
}

#[test]
fn persistent_loss_walks_down_to_the_floors_and_no_further() {
    let (mut c, mut now) = (Controller::new(ladder()), Instant::now());
    run(&mut c, &mut now, 60, report(0.5, 40));
    let floor = ladder().floor();
    assert_eq!(c.budget_kbps(), floor);
    // Main picture at its floor, the lower layers at a quarter of theirs (never under 50).
    assert_eq!(c.layers_kbps(), [375, 125, 50]);
    assert_eq!(floor, 550);
}

#[test]
fn the_lower_layers_shrink_only_once_the_main_picture_is_at_its_floor() {
    let l = ladder();
    assert_eq!(l.split(1025), [375, 500, 150], "main picture exactly at its floor");
    let between = l.split(800);
    assert_eq!(between[0], 375);
    assert!(between[1] < 500 && between[1] > 125 && between[2] < 150 && between[2] >= 50, "{between:?}");
    assert_eq!(between.iter().sum::<u32>(), 800);
    assert_eq!(l.split(10), [375, 125, 50], "clamped to the floors");
    assert_eq!(l.split(100_000), [1500, 500, 150], "clamped to the ceiling");
    let single = Ladder { top_kbps: 1500, top_floor_kbps: 300, lower_kbps: vec![] };
    assert_eq!(single.split(200), [300]);
    assert_eq!(single.split(900), [900]);
}

#[test]
fn a_clean_link_climbs_back_to_the_configured_rates_within_30_seconds() {
    let (mut c, mut now) = (Controller::new(ladder()), Instant::now());
    run(&mut c, &mut now, 20, report(0.5, 40));
    assert_eq!(c.budget_kbps(), 550);
    let mut back_after = None;
    for s in 1..=60 {
        now += Duration::from_secs(1);
        c.handle_feedback(report(0.0, 40), now);
        if !c.adapting() {
            back_after = Some(s);
            break;
        }
    }
    // After a 2 s wait, 1 %/s near the capacity estimated at the last cut, then 6 %/s up to
    // 2150: about 30 s.
    let secs = back_after.expect("back at the configured rates within a minute");
    assert!((10..=40).contains(&secs), "recovered after {secs} s");
    assert_eq!(c.layers_kbps(), [1500, 500, 150]);
}

#[test]
fn it_does_not_climb_straight_after_a_cut() {
    let (mut c, mut now) = (Controller::new(ladder()), Instant::now());
    run(&mut c, &mut now, 1, report(0.4, 40));
    let cut = c.budget_kbps();
    run(&mut c, &mut now, 1, report(0.0, 40));
    assert_eq!(c.budget_kbps(), cut, "the first clean report after a cut holds");
    assert_eq!(c.reason(), Reason::Hold);
    run(&mut c, &mut now, 2, report(0.0, 40));
    assert!(c.budget_kbps() > cut);
}

#[test]
fn three_percent_loss_noise_neither_cuts_nor_oscillates() {
    let (mut c, mut now) = (Controller::new(ladder()), Instant::now());
    let mut changes = 0;
    for i in 0..120u32 {
        now += Duration::from_secs(1);
        // 1–4.5 % around 3 %, as a noisy link reports it.
        let loss = [0.03, 0.01, 0.045, 0.02, 0.04][i as usize % 5];
        changes += usize::from(c.handle_feedback(report(loss, 40 + u64::from(i % 7)), now).is_some());
    }
    assert_eq!(changes, 0);
    assert_eq!(c.layers_kbps(), [1500, 500, 150]);
}

#[test]
fn a_queue_building_up_holds_then_cuts_before_loss_shows() {
    let (mut c, mut now) = (Controller::new(ladder()), Instant::now());
    run(&mut c, &mut now, 5, report(0.5, 40));
    run(&mut c, &mut now, 10, report(0.0, 40));
    let before = c.budget_kbps();
    run(&mut c, &mut now, 3, report(0.0, 40 + 80));
    assert_eq!(c.budget_kbps(), before, "80 ms over the floor: no climbing");
    assert_eq!(c.reason(), Reason::Queue);
    run(&mut c, &mut now, 1, report(0.0, 40 + 200));
    assert!(c.budget_kbps() < before, "200 ms over the floor: cut");
    assert_eq!(c.rtt_floor(), Some(Duration::from_millis(40)));
}

#[test]
fn no_new_report_changes_nothing() {
    let (mut c, mut now) = (Controller::new(ladder()), Instant::now());
    run(&mut c, &mut now, 3, report(0.5, 40));
    let held = c.budget_kbps();
    run(&mut c, &mut now, 30, Feedback::default());
    assert_eq!(c.budget_kbps(), held);
}

#[test]
fn a_pushed_ladder_keeps_the_budget_inside_the_new_bounds() {
    let (mut c, now) = (Controller::new(ladder()), Instant::now());
    c.set_ladder(Ladder { top_kbps: 800, top_floor_kbps: 200, lower_kbps: vec![150] });
    assert_eq!(c.layers_kbps(), [800, 150], "down to the new ceiling");
    c.handle_feedback(report(0.3, 40), now);
    assert_eq!(c.layers_kbps(), [415, 150], "950 × 0.7 × 0.85 ≈ 565, the main picture gives way");
}

/// A capped link as tc's tbf makes it: over `cap_kbps` its 200 ms queue is full (the round trip
/// grows by that much) and the excess is dropped. Reports every 5 s as the hub sends them; audio
/// (50 kbit/s) shares the cap.
fn capped(c: &mut Controller, now: &mut Instant, secs: u64, cap_kbps: f64) -> Vec<(u64, u32, f64)> {
    let mut trace = Vec::new();
    for s in (5..=secs).step_by(5) {
        *now += Duration::from_secs(5);
        let sent = f64::from(c.budget_kbps()) + 50.0;
        let loss = (1.0 - cap_kbps / sent).max(0.0);
        let rtt_ms = if sent > cap_kbps { 240 } else { 40 };
        c.handle_feedback(report(loss, rtt_ms), *now);
        trace.push((s, c.budget_kbps(), loss));
    }
    trace
}

#[test]
fn under_a_1000_kbit_cap_it_gets_under_within_two_reports_and_stays_near_the_cap() {
    let (mut c, mut now) = (Controller::new(ladder()), Instant::now());
    let trace = capped(&mut c, &mut now, 180, 1000.0);
    assert!(trace[1].1 + 50 <= 1000, "under the cap by the second report: {trace:?}");
    let settled = &trace[4..];
    let lossy = settled.iter().filter(|&&(_, _, loss)| loss > 0.0).count();
    assert!(lossy * 3 <= settled.len(), "at most one report in three with any loss: {trace:?}");
    let least = settled.iter().map(|&(_, b, _)| b).min().unwrap();
    assert!(least >= 700, "the picture does not sink far below what the link carries: {trace:?}");
    // The cap lifted: back to the configured rates.
    let trace = capped(&mut c, &mut now, 60, 10_000.0);
    assert_eq!(c.layers_kbps(), [1500, 500, 150], "{trace:?}");
}

#[test]
fn loss_with_a_full_queue_cuts_deeper() {
    let (mut a, mut b, now) = (Controller::new(ladder()), Controller::new(ladder()), Instant::now());
    a.handle_feedback(report(0.0, 40), now);
    b.handle_feedback(report(0.0, 40), now);
    let later = now + Duration::from_secs(5);
    a.handle_feedback(report(0.12, 40), later);
    b.handle_feedback(report(0.12, 40 + 200), later);
    assert!(b.budget_kbps() < a.budget_kbps(), "{} vs {}", b.budget_kbps(), a.budget_kbps());
}
