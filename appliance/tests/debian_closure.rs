//! The guard a bare Debian 12 needed: every plugin the virtual box really loads is installed by
//! `scripts/deps.sh`. It plays the virtual box's pipelines (camera with simulcast layers, slides,
//! microphone, an offer so webrtcbin makes its ICE/DTLS/SRTP insides; the return feed; the claim
//! screen; a snapshot), walks every element, maps each plugin file to its Debian package with
//! `dpkg -S`, and requires that package in the dependency closure of `deps.sh --list`, computed
//! from the installed packages' Depends and Pre-Depends **without Recommends**: plugins-good only
//! *recommends* gstreamer1.0-x, so a closure with Recommends passed while the demo never went live.
//!
//! Plugins found through `GST_PLUGIN_PATH` (a developer's own builds) are not Debian's business.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use lectern_appliance::control::ClaimScreen;
use lectern_appliance::media::{
    self, ContentSettings, DtlsCertificate, MediaSettings, PlaybackOutput, PlaybackSettings, SimulcastLayer,
    TestPattern, VideoSettings, build_pipeline, build_playback, catalog, create_offer,
};
use lectern_appliance::snapshot::SnapshotTap;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

/// The virtual box as `scripts/demo.sh` runs it: camera with two lower layers, slides, tone.
fn virtual_box() -> MediaSettings {
    let mut settings = MediaSettings::virtual_sources(TestPattern::Smpte);
    settings.video.width = 640;
    settings.video.height = 360;
    settings.video.simulcast = vec![SimulcastLayer { width: 320, height: 180, bitrate_kbps: 150 }];
    let video = VideoSettings { width: 640, height: 360, framerate: 5, ..settings.video.clone() };
    settings.content = Some(ContentSettings {
        device: "virtual".into(),
        video: VideoSettings { simulcast: Vec::new(), ..video },
        mode: None,
    });
    settings
}

/// Every element in `bin`, its children's children included.
fn elements(bin: &gst::Bin, out: &mut Vec<gst::Element>) {
    for element in bin.iterate_recurse().into_iter().flatten() {
        out.push(element);
    }
}

/// The plugin files the virtual box loads, each with the factories that brought it in.
fn loaded_plugins() -> BTreeMap<PathBuf, BTreeSet<String>> {
    media::init().expect("GStreamer");
    let mut found = Vec::new();

    let publish = build_pipeline(&virtual_box()).expect("the virtual box's pipeline builds");
    publish.play().expect("plays");
    let certificate = DtlsCertificate::generate().expect("certificate");
    certificate.install(publish.webrtcbin()).expect("certificate installed");
    create_offer(publish.webrtcbin(), Duration::from_secs(60)).expect("an offer (webrtcbin makes its transport)");
    let tap = SnapshotTap::default();
    tap.attach(publish.gst_pipeline());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while tap.jpeg().is_err() {
        assert!(std::time::Instant::now() < deadline, "no snapshot of the playing camera");
        std::thread::sleep(Duration::from_millis(50));
    }
    elements(publish.gst_pipeline().upcast_ref(), &mut found);

    let playback = build_playback(&PlaybackSettings { output: PlaybackOutput::Headless, ice_addresses: Vec::new() })
        .expect("the return feed builds");
    playback.pipeline.play().expect("the return feed plays");
    elements(playback.pipeline.gst_pipeline().upcast_ref(), &mut found);

    let claim = ClaimScreen::start(true).expect("the claim screen plays");
    elements(claim.pipeline().upcast_ref(), &mut found);

    // What is made only when media arrives (decoders, depayloaders) or in the snapshot's own
    // short-lived pipeline: made here from the catalogue, as the box would.
    let virtual_box = catalog::Mode { virtual_sources: true, headless: true };
    for row in catalog::required(virtual_box) {
        match gst::ElementFactory::make(row.factory).build() {
            Ok(element) => found.push(element),
            Err(_) => panic!(
                "{} is not installed: run scripts/deps.sh (install {})",
                row.factory,
                catalog::install_hint(row.factory)
            ),
        }
    }

    let private: Vec<PathBuf> =
        std::env::var_os("GST_PLUGIN_PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    let mut plugins: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for element in found {
        let Some(factory) = element.factory() else { continue };
        let Some(file) = factory.plugin().and_then(|p| p.filename()) else { continue };
        if private.iter().any(|dir| file.starts_with(dir)) {
            continue;
        }
        // Debian records /usr/lib/…; GStreamer may have found it through the /lib link.
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        plugins.entry(file).or_default().insert(factory.name().to_string());
    }
    plugins
}

/// `dpkg -S` for each file: the package that ships it.
fn owners(files: &[&PathBuf]) -> BTreeMap<PathBuf, String> {
    let output = Command::new("dpkg").arg("-S").args(files).output().expect("dpkg runs");
    let mut owners = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        // "gstreamer1.0-plugins-good:amd64: /usr/lib/…/libgstjpeg.so"
        let Some((packages, path)) = line.split_once(": ") else { continue };
        let package = packages.split(", ").next().unwrap_or(packages);
        let package = package.split(':').next().unwrap_or(package);
        owners.insert(PathBuf::from(path), package.to_owned());
    }
    owners
}

/// One installed package's name, what it provides, and its Depends + Pre-Depends as
/// alternatives (`a | b`), versions and architectures stripped.
#[derive(Debug, Default)]
struct Installed {
    provides: Vec<String>,
    depends: Vec<Vec<String>>,
}

fn name_of(item: &str) -> String {
    let name = item.trim().split([' ', '(']).next().unwrap_or("");
    name.split(':').next().unwrap_or(name).to_owned()
}

/// Parses `dpkg-query -W -f '${Package}\t${Status}\t${Provides}\t${Pre-Depends}, ${Depends}\n'`.
fn parse_installed(text: &str) -> BTreeMap<String, Installed> {
    let mut installed = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [package, status, provides, depends] = fields[..] else { continue };
        if !status.ends_with(" installed") {
            continue;
        }
        let provides = provides.split(',').map(name_of).filter(|p| !p.is_empty()).collect();
        let depends = depends
            .split(',')
            .map(|group| group.split('|').map(name_of).filter(|p| !p.is_empty()).collect::<Vec<_>>())
            .filter(|group| !group.is_empty())
            .collect();
        installed.insert(package.to_owned(), Installed { provides, depends });
    }
    installed
}

/// Every package `roots` pull in through Depends/Pre-Depends alone. Of `a | b`, the first
/// alternative that is installed (directly or as something an installed package provides);
/// that is the one apt would have chosen on a bare machine.
fn closure(roots: &[String], installed: &BTreeMap<String, Installed>) -> BTreeSet<String> {
    let mut providers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (package, info) in installed {
        for virtual_name in &info.provides {
            providers.entry(virtual_name).or_default().push(package);
        }
    }
    let resolve = |name: &str| -> Vec<String> {
        if installed.contains_key(name) {
            vec![name.to_owned()]
        } else {
            providers.get(name).map(|p| p.iter().map(|s| (*s).to_owned()).collect()).unwrap_or_default()
        }
    };
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.to_vec();
    while let Some(package) = todo.pop() {
        if !seen.insert(package.clone()) {
            continue;
        }
        let Some(info) = installed.get(&package) else { continue };
        for group in &info.depends {
            if let Some(chosen) = group.iter().map(|alt| resolve(alt)).find(|r| !r.is_empty()) {
                todo.extend(chosen);
            }
        }
    }
    seen
}

#[test]
fn every_plugin_the_virtual_box_loads_is_installed_by_deps_sh() {
    if !Path::new("/usr/bin/dpkg-query").exists() {
        eprintln!("skipped: not a Debian system (no dpkg-query)");
        return;
    }
    let listed = Command::new(repo().join("scripts/deps.sh")).arg("--list").output().expect("deps.sh runs");
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let roots: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_owned).collect();

    let query = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package}\t${Status}\t${Provides}\t${Pre-Depends}, ${Depends}\n"])
        .output()
        .expect("dpkg-query runs");
    let installed = parse_installed(&String::from_utf8_lossy(&query.stdout));
    let not_installed: Vec<&String> = roots.iter().filter(|r| !installed.contains_key(*r)).collect();
    assert!(not_installed.is_empty(), "run scripts/deps.sh first: {not_installed:?} are not installed");
    let closure = closure(&roots, &installed);

    let plugins = loaded_plugins();
    assert!(plugins.len() >= 15, "the walk found too few plugins to be right: {plugins:?}");
    let files: Vec<&PathBuf> = plugins.keys().collect();
    let owners = owners(&files);
    let mut problems = Vec::new();
    for (file, factories) in &plugins {
        match owners.get(file) {
            Some(package) if closure.contains(package) => {}
            Some(package) => problems.push(format!(
                "{package} (ships {}, for {factories:?}) is installed here but scripts/deps.sh does not install it",
                file.display()
            )),
            None => problems.push(format!("{} (for {factories:?}) belongs to no Debian package", file.display())),
        }
    }
    assert!(problems.is_empty(), "a bare Debian 12 would miss:\n{}", problems.join("\n"));
}

#[test]
fn the_closure_follows_depends_and_provides_but_not_recommends() {
    let text = "gstreamer1.0-plugins-good\tinstall ok installed\t\t, libgstreamer1.0-0 (>= 1.22), libjpeg62-turbo | libjpeg-dev\n\
                gstreamer1.0-x\tinstall ok installed\t\t, libpango-1.0-0\n\
                libgstreamer1.0-0\tinstall ok installed\t\tlibc6:any (>= 2.34), \n\
                libjpeg62-turbo\tinstall ok installed\tlibjpeg62\t, \n\
                libpango-1.0-0\tinstall ok installed\t\t, \n\
                libc6\tinstall ok installed\t\t, \n\
                removed\tdeinstall ok config-files\t\t, \n\
                app\tinstall ok installed\t\t, libjpeg62\n";
    let installed = parse_installed(text);
    assert!(!installed.contains_key("removed"));
    let good = closure(&["gstreamer1.0-plugins-good".into()], &installed);
    assert!(
        good.contains("libgstreamer1.0-0") && good.contains("libc6") && good.contains("libjpeg62-turbo"),
        "{good:?}"
    );
    assert!(!good.contains("gstreamer1.0-x"), "Recommends are not followed: {good:?}");
    assert!(
        closure(&["app".into()], &installed).contains("libjpeg62-turbo"),
        "a virtual package resolves to its provider"
    );
}
