use std::fs;
use std::path::Path;

use tempfile::TempDir;

use super::*;
use crate::whip::Token;

const SAMPLE: &str = include_str!("../../appliance.example.toml");
const MINIMAL: &str = "[hub]\nurl = \"http://hub.test:8080\"\nroom = \"lab\"\ntoken_file = \"/etc/lectern/token\"\n";

struct Dirs {
    _root: TempDir,
    paths: ConfigPaths,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().expect("temp dir");
    let paths = ConfigPaths {
        vendor_dir: root.path().join("usr-lib"),
        admin_dir: root.path().join("etc"),
        state_dir: root.path().join("state"),
    };
    for dir in [&paths.vendor_dir, &paths.admin_dir, &paths.state_dir] {
        fs::create_dir_all(dir.join("config.d")).expect("mkdir");
    }
    Dirs { _root: root, paths }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).expect("write config");
}

fn key_errors(fragment: &str, overrides: &Overrides) -> Vec<KeyError> {
    let fragment: Fragment = toml::from_str(fragment).expect("fragment parses");
    match validate(&fragment, overrides) {
        Err(ConfigError::Invalid(errors)) => errors,
        other => panic!("expected key errors, got {other:?}"),
    }
}

#[test]
fn the_sample_documents_a_valid_configuration() {
    let fragment: Fragment = toml::from_str(SAMPLE).expect("sample parses");
    let settings = validate(&fragment, &Overrides::default()).expect("sample validates");
    assert_eq!(settings.hub.room.as_str(), "physics-1");
    assert!(matches!(settings.hub.token, TokenSource::File(ref p) if p == Path::new("/etc/lectern/token")));
    assert_eq!(settings.video.simulcast.len(), 2);
    assert_eq!(settings.video.encoders, DEFAULT_ENCODERS.map(String::from).to_vec());
    let panel = settings.panel.expect("panel");
    assert_eq!((panel.chip.as_str(), panel.go_live, panel.fault_led), ("/dev/gpiochip0", Some(17), Some(13)));
    assert_eq!(settings.status_listen, Some(DEFAULT_STATUS_LISTEN.parse().expect("addr")));
}

#[test]
fn the_sample_sets_every_key_of_the_fragment() {
    // A key added to `Fragment` but not to the sample would go undocumented.
    let fragment: Fragment = toml::from_str(SAMPLE).expect("sample parses");
    let value = toml::Value::try_from(&fragment).expect("serialises");
    let text = toml::to_string(&value).expect("text");
    let reparsed: Fragment = toml::from_str(&text).expect("round trip");
    assert_eq!(reparsed, fragment);
    let debug = format!("{fragment:?}");
    assert!(!debug.contains("None"), "a key is missing from appliance.example.toml: {debug}");
}

#[test]
fn every_validation_error_names_its_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("[video]\nframerate = 0", "video.framerate", "0 is out of range 1..=120"),
        ("[video]\nwidth = 1281", "video.width", "1281 is odd"),
        ("[video]\nbitrate_kbps = 5", "video.bitrate_kbps", "out of range"),
        ("[video]\nkeyframe_interval_s = 0", "video.keyframe_interval_s", "out of range"),
        ("[video]\nencoders = []", "video.encoders", "at least one"),
        ("[video]\nencoders = [\"x264enc ! fakesink\"]", "video.encoders[0]", "not a GStreamer element"),
        ("[[video.simulcast]]\nwidth = 640\nheight = 360", "video.simulcast[0].bitrate_kbps", "missing"),
        ("[[video.simulcast]]\nwidth = 4000\nheight = 360\nbitrate_kbps = 100", "video.simulcast[0].width", "range"),
        ("[camera]\ndevice = \"\"", "camera.device", "must not be empty"),
        ("[content]\ndevice = \"/dev/video0\"", "content.device", "is the room camera"),
        ("[content]\ndevice = \"\"", "content.device", "must not be empty"),
        ("[content]\ndevice = \"/dev/video2\"\nframerate = 0", "content.framerate", "0 is out of range 1..=30"),
        ("[content]\ndevice = \"/dev/video2\"\nframerate = 60", "content.framerate", "out of range"),
        ("[content]\ndevice = \"/dev/video2\"\nwidth = 1921", "content.width", "1921 is odd"),
        ("[content]\nheight = 9000", "content.height", "out of range"),
        ("[content]\ndevice = \"/dev/video2\"\nbitrate_kbps = 5", "content.bitrate_kbps", "out of range"),
        ("[audio]\nmic = \" \"", "audio.mic", "must not be empty"),
        ("[status]\nlisten = \"localhost\"", "status.listen", "not an IP:port"),
        ("[recording]\nupload_kbps = 1000001", "recording.upload_kbps", "1000001 is out of range 0..=1000000"),
        ("[recording]\nfragment_minutes = 0", "recording.fragment_minutes", "0 is out of range 1..=60"),
        ("[panel]\nbuttons = { mute = 3 }", "panel.chip", "missing"),
        ("[panel]\nchip = \"gpiochip0\"\nbuttons = { mute = 3 }\nleds = { fault = 3 }", "panel.leds.fault", "line 3"),
        ("[panel]\nchip = \"gpiochip0\"\nleds = { live = 5000 }", "panel.leds.live", "out of range"),
    ];
    for (extra, key, message) in cases {
        let errors = key_errors(&format!("{MINIMAL}{extra}"), &Overrides::default());
        assert!(
            errors.iter().any(|e| e.key == *key && e.message.contains(message)),
            "{extra:?}: expected `{key}: …{message}…`, got {errors:?}"
        );
        assert!(errors.iter().all(|e| e.to_string().starts_with(&format!("{}: ", e.key))));
    }
}

#[test]
fn content_is_off_without_a_device_and_defaults_to_sharp_slow_slides() {
    let settings = |extra: &str| {
        let fragment: Fragment = toml::from_str(&format!("{MINIMAL}{extra}")).expect("parses");
        validate(&fragment, &Overrides::default()).expect("valid")
    };
    assert_eq!(settings("").content, None);
    assert_eq!(settings("[content]\nframerate = 2\n").content, None, "no device, nothing to send");
    let content = settings("[content]\ndevice = \"HDMI capture\"\n").content.expect("on");
    let expected =
        ContentConfig { device: "HDMI capture".into(), width: 1920, height: 1080, framerate: 5, bitrate_kbps: 1500 };
    assert_eq!(content, expected);
    let sample: Fragment = toml::from_str(SAMPLE).expect("sample parses");
    let sample = validate(&sample, &Overrides::default()).expect("valid").content.expect("the sample sends content");
    assert_eq!((sample.device.as_str(), sample.framerate), ("/dev/video2", 5));
}

#[test]
fn the_command_line_turns_content_on() {
    let overrides = Overrides { content: Some("virtual".into()), ..Overrides::default() };
    let fragment: Fragment =
        toml::from_str(&format!("{MINIMAL}[content]\nwidth = 1280\nheight = 720\n")).expect("parses");
    let content = validate(&fragment, &overrides).expect("valid").content.expect("on");
    assert_eq!((content.device.as_str(), content.width, content.height), ("virtual", 1280, 720));
}

#[test]
fn an_inline_token_is_refused_without_being_quoted() {
    let d = dirs();
    write(&d.paths.admin_dir.join("appliance.toml"), "[hub]\ntoken = \"secret.jwt.value\"\n");
    let err = load(&d.paths, &Overrides::default()).expect_err("refused").to_string();
    assert!(err.contains("hub.token:") && err.contains("hub.token_file"), "{err}");
    assert!(!err.contains("secret.jwt.value"), "the token leaked into the error: {err}");
}

#[test]
fn hub_keys_are_required_unless_given_on_the_command_line() {
    let errors = key_errors("", &Overrides::default());
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["hub.url", "hub.room", "hub.token_file"]);
    assert_eq!(key_errors("[hub]\nurl = \"ftp://x\"", &Overrides::default())[0].key, "hub.url");
    assert_eq!(key_errors("[hub]\nroom = \"../x\"", &Overrides::default())[1].key, "hub.room");
}

#[test]
fn command_line_alone_is_enough_and_wins_over_files() {
    let overrides = Overrides {
        hub: Some("http://127.0.0.1:1".into()),
        room: Some(lectern_proto::RoomId::parse("demo").expect("room")),
        token: Some(Token::new("abc")),
        framerate: Some(15),
        encoder: Some("openh264enc".into()),
        ..Overrides::default()
    };
    let settings = validate(&Fragment::default(), &overrides).expect("valid");
    assert_eq!((settings.video.width, settings.video.framerate), (1280, 15));
    assert_eq!(settings.video.encoders, ["openh264enc"]);
    assert!(matches!(settings.hub.token, TokenSource::Given(_)));
    let fragment: Fragment = toml::from_str(&format!("{MINIMAL}[video]\nframerate = 60")).expect("parses");
    assert_eq!(validate(&fragment, &overrides).expect("valid").video.framerate, 15);
}

#[test]
fn no_files_mean_defaults() {
    let d = dirs();
    let overrides = Overrides {
        hub: Some("http://h".into()),
        room: Some(lectern_proto::RoomId::parse("r").expect("room")),
        token: Some(Token::new("t")),
        ..Overrides::default()
    };
    let loaded = load(&d.paths, &overrides).expect("loads");
    assert_eq!(loaded.source, ConfigSource::Defaults);
    assert!(!d.paths.last_good().exists(), "nothing to keep");
}

#[test]
fn drop_ins_apply_in_name_order_and_etc_masks_vendor() {
    let d = dirs();
    let p = &d.paths;
    write(&p.vendor_dir.join("appliance.toml"), &format!("{MINIMAL}[video]\nwidth = 640\nheight = 480\n"));
    write(&p.admin_dir.join("appliance.toml"), "[video]\nwidth = 800\n");
    write(&p.vendor_dir.join("config.d/10-board.toml"), "[video]\nframerate = 25\nbitrate_kbps = 900\n");
    write(&p.admin_dir.join("config.d/10-board.toml"), "[video]\nframerate = 20\n");
    write(&p.vendor_dir.join("config.d/20-site.toml"), "[video]\nheight = 600\n");
    write(&p.admin_dir.join("config.d/30-room.toml"), "[video]\nwidth = 1024\n");
    write(&p.admin_dir.join("config.d/README"), "not toml, ignored");
    let loaded = load(p, &Overrides::default()).expect("loads");
    let v = &loaded.settings.video;
    assert_eq!((v.width, v.height, v.framerate), (1024, 600, 20));
    assert_eq!(v.bitrate_kbps, 1500, "the masked vendor drop-in does not apply at all");
    let ConfigSource::Files(files) = &loaded.source else { panic!("{:?}", loaded.source) };
    let names: Vec<_> = files.iter().map(|f| f.strip_prefix(d._root.path()).expect("under root").to_owned()).collect();
    let expected = ["usr-lib/appliance.toml", "etc/appliance.toml", "etc/config.d/10-board.toml"];
    assert_eq!(names[..3], expected.map(std::path::PathBuf::from));
    assert_eq!(names.len(), 5);
}

/// Loads a good configuration (making the last good copy), breaks it with `broken`, and
/// checks the appliance starts from the last good copy and reports why.
fn falls_back_to_last_good(broken: &str, reason: &str) {
    let d = dirs();
    let main = d.paths.admin_dir.join("appliance.toml");
    write(&main, &format!("{MINIMAL}[video]\nframerate = 25\n"));
    let good = load(&d.paths, &Overrides::default()).expect("good config loads");
    assert!(matches!(good.source, ConfigSource::Files(_)));
    assert!(d.paths.last_good().is_file(), "last good copy kept");

    write(&main, broken);
    let loaded = load(&d.paths, &Overrides::default()).expect("falls back");
    assert_eq!(loaded.settings.video.framerate, 25);
    match &loaded.source {
        ConfigSource::LastGood { path, error } => {
            assert_eq!(path, &d.paths.last_good());
            assert!(error.contains(reason), "error {error:?} should mention {reason:?}");
        }
        other => panic!("expected last-good, got {other:?}"),
    }
}

#[test]
fn truncated_file_starts_from_the_last_good_copy() {
    falls_back_to_last_good("[hub]\nurl = \"http://hub.te", "appliance.toml");
}

#[test]
fn corrupt_file_starts_from_the_last_good_copy() {
    falls_back_to_last_good("\0\0\0\u{fffd}garbage", "appliance.toml");
}

#[test]
fn invalid_value_starts_from_the_last_good_copy() {
    falls_back_to_last_good(&format!("{MINIMAL}[video]\nframerate = 0\n"), "video.framerate: 0 is out of range");
}

#[test]
fn unknown_key_starts_from_the_last_good_copy() {
    falls_back_to_last_good(&format!("{MINIMAL}[video]\nframerat = 25\n"), "framerat");
}

#[test]
fn without_a_last_good_copy_the_error_is_returned() {
    let d = dirs();
    write(&d.paths.admin_dir.join("appliance.toml"), "[video]\nframerate = 0\n");
    let err = load(&d.paths, &Overrides::default()).expect_err("no fallback");
    assert!(err.to_string().contains("video.framerate: 0 is out of range 1..=120"), "{err}");
}

#[test]
fn atomic_write_replaces_the_whole_file_and_leaves_no_temporary() {
    let d = dirs();
    let path = d.paths.state_dir.join("x.toml");
    write_atomic(&path, b"a = 1\n").expect("first write");
    write_atomic(&path, b"b = 2\n").expect("second write");
    assert_eq!(fs::read_to_string(&path).expect("read"), "b = 2\n");
    let leftovers: Vec<_> = fs::read_dir(&d.paths.state_dir).expect("ls").flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 2, "only config.d and x.toml: {leftovers:?}");
}

#[test]
fn a_pushed_fragment_is_checked_against_the_files_and_kept_as_a_drop_in() {
    let d = dirs();
    write(&d.paths.admin_dir.join("appliance.toml"), MINIMAL);
    let settings = apply_pushed(&d.paths, &Overrides::default(), "[video]\nbitrate_kbps = 2500\n").expect("valid push");
    assert_eq!((settings.video.bitrate_kbps, settings.hub.room.as_str()), (2500, "lab"));
    let drop_in = d.paths.hub_drop_in();
    assert_eq!(fs::read_to_string(&drop_in).expect("written"), "[video]\nbitrate_kbps = 2500\n");
    let loaded = load(&d.paths, &Overrides::default()).expect("loads");
    assert_eq!(loaded.settings.video.bitrate_kbps, 2500, "the next start sees the push");

    // A later push replaces the earlier one instead of merging with it.
    let settings = apply_pushed(&d.paths, &Overrides::default(), "[video]\nframerate = 25\n").expect("valid push");
    assert_eq!((settings.video.bitrate_kbps, settings.video.framerate), (1500, 25));
}

#[test]
fn a_bad_push_names_the_key_and_keeps_the_last_good_drop_in() {
    let d = dirs();
    write(&d.paths.admin_dir.join("appliance.toml"), MINIMAL);
    apply_pushed(&d.paths, &Overrides::default(), "[video]\nframerate = 25\n").expect("valid push");
    let out_of_range = apply_pushed(&d.paths, &Overrides::default(), "[video]\nframerate = 0\n").unwrap_err();
    assert!(out_of_range.to_string().contains("video.framerate: 0 is out of range"), "{out_of_range}");
    let typo = apply_pushed(&d.paths, &Overrides::default(), "[video]\nframerat = 25\n").unwrap_err();
    assert!(typo.to_string().contains("framerat"), "{typo}");
    let secret = apply_pushed(&d.paths, &Overrides::default(), "[hub]\ntoken = \"s3cret\"\n").unwrap_err();
    assert!(secret.to_string().contains("hub.token") && !secret.to_string().contains("s3cret"), "{secret}");
    for (push, key) in [
        ("[hub]\nurl = \"https://attacker.test\"\n", "hub.url"),
        ("[hub]\nca_file = \"/tmp/evil.pem\"\n", "hub.ca_file"),
        ("[status]\nlisten = \"0.0.0.0:8090\"\n", "status.listen"),
        ("[video]\nframerate = 20\nencoders = [\"x264enc\"]\n", "video.encoders"),
    ] {
        let refused = apply_pushed(&d.paths, &Overrides::default(), push).unwrap_err().to_string();
        assert!(refused.contains(key) && refused.contains("may not push"), "{push}: {refused}");
    }
    assert_eq!(fs::read_to_string(d.paths.hub_drop_in()).expect("kept"), "[video]\nframerate = 25\n");
}

#[test]
fn an_administrators_later_drop_in_wins_over_the_hubs() {
    let d = dirs();
    write(&d.paths.admin_dir.join("appliance.toml"), MINIMAL);
    write(&d.paths.admin_dir.join("config.d/95-local.toml"), "[video]\nframerate = 15\n");
    let settings = apply_pushed(&d.paths, &Overrides::default(), "[video]\nframerate = 25\n").expect("valid push");
    assert_eq!(settings.video.framerate, 15);
}

#[test]
fn a_push_turns_content_off_over_a_file_that_sets_a_device_and_back_on() {
    let d = dirs();
    write(&d.paths.admin_dir.join("appliance.toml"), &format!("{MINIMAL}[content]\ndevice = \"/dev/video2\"\n"));
    // What the hub's web admin sends for "off": the device it keeps is the box's, not in the push.
    let off = apply_pushed(&d.paths, &Overrides::default(), "[content]\nenabled = false\n").expect("valid push");
    assert_eq!(off.content, None);
    assert_eq!(load(&d.paths, &Overrides::default()).expect("loads").settings.content, None, "off after a restart");
    let on = "[content]\nenabled = true\ndevice = \"/dev/video3\"\nframerate = 10\n";
    let content = apply_pushed(&d.paths, &Overrides::default(), on).expect("valid push").content.expect("on");
    assert_eq!((content.device.as_str(), content.framerate), ("/dev/video3", 10));
    // Off, the device may even be the camera's (it is not used); the keys are still checked.
    let unused = "[content]\nenabled = false\ndevice = \"/dev/video0\"\n";
    assert_eq!(apply_pushed(&d.paths, &Overrides::default(), unused).expect("valid push").content, None);
    let typo = apply_pushed(&d.paths, &Overrides::default(), "[content]\nenabled = false\nframerate = 0\n");
    assert!(typo.unwrap_err().to_string().contains("content.framerate: 0 is out of range 1..=30"));
}

#[test]
fn the_update_section_names_its_installer_and_refuses_what_it_does_not_know() {
    use super::{InstallerKind, Overrides};
    let overrides = Overrides {
        hub: Some("http://hub.test".into()),
        room: Some(lectern_proto::RoomId::parse("r").unwrap()),
        token: Some(crate::whip::Token::new("t")),
        ..Overrides::default()
    };
    let parse = |text: &str| super::validate(&toml::from_str(text).unwrap(), &overrides);
    let s = parse("[update]\ninstaller = \"fake\"\nkeyring = \"/etc/lectern/keyring.pem\"\n").unwrap();
    assert_eq!(s.update.installer, InstallerKind::Fake);
    assert_eq!(s.update.keyring.as_deref(), Some(std::path::Path::new("/etc/lectern/keyring.pem")));
    assert_eq!(parse("").unwrap().update.installer, InstallerKind::None, "apt updates a Debian box");
    let err = parse("[update]\ninstaller = \"swupdate\"\nkeyring = \"k.pem\"\n").unwrap_err().to_string();
    assert!(err.contains("update.installer") && err.contains("update.keyring"), "{err}");
}

#[test]
fn hub_url_may_be_a_list_checked_entry_by_entry() {
    let hub = |toml: &str| {
        let fragment: Fragment = toml::from_str(toml).expect("parses");
        let overrides = Overrides { token: Some(crate::whip::Token::new("t")), ..Overrides::default() };
        validate(&fragment, &overrides)
    };
    let ok = hub("[hub]\nurl = [\"http://a.test:8080\", \"https://b.test\"]\nroom = \"lab\"\n").expect("valid");
    assert_eq!(ok.hub.urls, ["http://a.test:8080", "https://b.test"]);
    assert_eq!(ok.hub.url, "http://a.test:8080");
    let one = hub("[hub]\nurl = \"http://a.test\"\nroom = \"lab\"\n").expect("a string is a list of one");
    assert_eq!(one.hub.urls, ["http://a.test"]);
    for (toml, what) in [
        ("[hub]\nurl = []\nroom = \"lab\"\n", "empty list"),
        ("[hub]\nurl = [\"http://a.test\", \"http://a.test/\"]\nroom = \"lab\"\n", "listed twice"),
        ("[hub]\nurl = [\"http://a.test\", \"ftp://b\"]\nroom = \"lab\"\n", "not an http"),
    ] {
        let err = hub(toml).expect_err(what).to_string();
        assert!(err.contains("hub.url") && err.contains(what), "{what}: {err}");
    }
}

#[test]
fn hub_flag_takes_a_comma_separated_list() {
    let overrides = Overrides {
        hub: Some("http://a.test, http://b.test".into()),
        room: Some(lectern_proto::RoomId::parse("lab").unwrap()),
        token: Some(crate::whip::Token::new("t")),
        ..Overrides::default()
    };
    let s = validate(&Fragment::default(), &overrides).expect("valid");
    assert_eq!(s.hub.urls, ["http://a.test", "http://b.test"]);
}
