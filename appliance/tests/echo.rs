//! Echo cancellation on real GStreamer, in a simulated room (`Source::EchoRoom`): the return
//! feed plays a remote student (pink noise, broadband like speech) and the publish pipeline's
//! "microphone" hears every sample as the speaker renders it, so all the room would hear from
//! its speaker comes back into the microphone. What the box sends is measured with its `level`.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use lectern_appliance::media::{
    self, AudioProcessing, EchoProbe, MediaSettings, PipelineOptions, PlaybackOutput, PlaybackSettings, Source,
    TestPattern, build_pipeline_with, build_playback_with_echo,
};

/// Reports (100 ms each) left for the canceller to converge before measuring, then measured.
const SETTLE_REPORTS: usize = 150;
const MEASURED_REPORTS: usize = 30;

#[test]
fn echo_of_the_return_feed_is_cancelled_in_the_sent_audio() {
    media::init().expect("GStreamer initialises");
    // Side by side: each needs ~20 s of audio and they barely use the CPU.
    let without = std::thread::spawn(|| echo_power_db(false));
    let with = echo_power_db(true);
    let without = without.join().expect("the run without AEC finished");
    eprintln!("echo in the sent audio: {without:.1} dBFS without AEC, {with:.1} dBFS with AEC");
    assert!(without > -40.0, "the simulated room must carry the echo: {without:.1} dBFS");
    assert!(with < without - 10.0, "AEC removes at least 10 dB of echo: {without:.1} → {with:.1} dBFS");
}

/// Mean power (dBFS) of what the box sends while only the remote student is heard.
fn echo_power_db(aec: bool) -> f64 {
    let channel = format!("lectern-echo-test-{}-{aec}", std::process::id());
    let probe = EchoProbe::new().expect("webrtcechoprobe exists");
    let mut settings = MediaSettings::virtual_sources(TestPattern::Smpte);
    settings.source = Source::EchoRoom { pattern: TestPattern::Smpte, channel: channel.clone() };
    (settings.video.width, settings.video.height, settings.video.framerate) = (320, 240, 10);
    // Noise suppression would also lower pink noise: only echo cancellation is under test.
    settings.audio = AudioProcessing { aec, ns: false, agc: false };
    let options = PipelineOptions { echo: Some(probe.clone()), ..PipelineOptions::default() };
    let publish = build_pipeline_with(&settings, &options).expect("publish pipeline builds");
    // With nothing to process the chain has no webrtcdsp at all: the plain microphone.
    let cancels = publish.gst_pipeline().by_name("audio-dsp").is_some_and(|dsp| dsp.property::<bool>("echo-cancel"));
    assert_eq!(cancels, aec);
    let levels = publish.mic_level().expect("publish pipelines measure what they send").subscribe();
    // No hub here: webrtcbin blocks its inputs until it is negotiated, which would stall the
    // microphone branch after a second, so the RTP is dropped just before it.
    for name in ["audio-rtp-caps", "video-rtp-caps"] {
        let pad = publish.gst_pipeline().by_name(name).and_then(|e| e.static_pad("src")).expect("RTP caps");
        pad.add_probe(gst::PadProbeType::BUFFER, |_, _| gst::PadProbeReturn::Drop);
    }
    publish.play().expect("publish pipeline plays");

    let output = PlaybackOutput::EchoRoom { channel };
    let playback = build_playback_with_echo(&PlaybackSettings { output, ice_addresses: Vec::new() }, &probe)
        .expect("return feed builds");
    assert!(
        playback.pipeline.gst_pipeline().by_name(&probe.name()).is_some(),
        "the speaker's audio passes the echo probe"
    );
    remote_student(playback.pipeline.gst_pipeline());
    playback.pipeline.play().expect("return feed plays");

    let reports = next_reports(&levels, SETTLE_REPORTS + MEASURED_REPORTS);
    let measured = &reports[SETTLE_REPORTS..];
    let mean_power =
        measured.iter().map(|db| db.map_or(0.0, |db| 10f64.powf(db / 10.0))).sum::<f64>() / measured.len() as f64;
    drop(playback);
    drop(publish);
    if mean_power > 0.0 { 10.0 * mean_power.log10() } else { -120.0 }
}

/// Plugs a far-end talker into the return feed's mixer, as a decoded student stream would be.
fn remote_student(pipeline: &gst::Pipeline) {
    let src = gst::ElementFactory::make("audiotestsrc")
        .property("is-live", true)
        .property_from_str("wave", "pink-noise")
        .property("volume", 0.3f64)
        .build()
        .expect("audiotestsrc");
    let convert = gst::ElementFactory::make("audioconvert").build().expect("audioconvert");
    pipeline.add_many([&src, &convert]).expect("added");
    src.link(&convert).expect("linked");
    let mixer = pipeline.by_name("return-mixer").expect("the return feed mixes its students");
    let pad = mixer.request_pad_simple("sink_%u").expect("mixer pad");
    convert.static_pad("src").expect("src pad").link(&pad).expect("linked to the mixer");
}

fn next_reports(levels: &Receiver<Option<f64>>, n: usize) -> Vec<Option<f64>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reports = Vec::with_capacity(n);
    while reports.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match levels.recv_timeout(left) {
            Ok(level) => reports.push(level),
            Err(_) => panic!("only {} level reports of {n} before the deadline", reports.len()),
        }
    }
    reports
}

#[test]
fn the_echo_probe_moves_on_to_the_next_return_feed() {
    media::init().expect("GStreamer initialises");
    let probe = EchoProbe::new().expect("webrtcechoprobe exists");
    let settings = PlaybackSettings { output: PlaybackOutput::Headless, ice_addresses: Vec::new() };
    let first = build_playback_with_echo(&settings, &probe).expect("first return feed builds");
    first.pipeline.play().expect("first return feed plays");
    assert!(build_playback_with_echo(&settings, &probe).is_err(), "one probe cannot play in two return feeds at once");
    drop(first);
    let second = build_playback_with_echo(&settings, &probe).expect("the probe is free again once the feed ended");
    second.pipeline.play().expect("second return feed plays");
}
