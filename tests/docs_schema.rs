//! Docs and schema agree: every attribute of the provider, each resource and each data source is
//! documented under `docs/` in the section of its kind (Required / Optional / Read-Only) with its
//! type, and nothing documented is missing from the schema. Every example passes
//! `terraform fmt -check` and `terraform validate`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Section and type of each documented attribute, from `### Required|Optional|Read-Only` lists.
fn documented(markdown: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in markdown.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            let title = title.trim();
            section = ["Required", "Optional", "Read-Only"]
                .contains(&title)
                .then(|| title.to_string());
            continue;
        }
        if line.starts_with("## ") {
            section = None;
            continue;
        }
        let (Some(section), Some(rest)) = (&section, line.strip_prefix("- `")) else {
            continue;
        };
        let Some((name, after)) = rest.split_once('`') else {
            continue;
        };
        let ty = after
            .trim_start()
            .strip_prefix('(')
            .and_then(|t| t.split_once(')'))
            .map(|(t, _)| t.to_string())
            .unwrap_or_default();
        out.insert(name.to_string(), (section.clone(), ty));
    }
    out
}

fn type_name(ty: &Value) -> String {
    match ty {
        Value::String(s) if s == "string" => "String".into(),
        Value::String(s) if s == "bool" => "Boolean".into(),
        Value::String(s) if s == "number" => "Number".into(),
        Value::Array(parts) if parts.len() == 2 => {
            let inner = match &parts[1] {
                Value::Array(p) if p.first() == Some(&Value::from("object")) => {
                    "Object".to_string()
                }
                other => type_name(other),
            };
            match parts[0].as_str() {
                Some("map") => format!("Map of {inner}"),
                Some("list") => format!("List of {inner}"),
                Some("set") => format!("Set of {inner}"),
                _ => format!("{parts:?}"),
            }
        }
        other => format!("{other}"),
    }
}

/// Differences between a schema block and its documentation page (empty = agree).
fn compare(block: &Value, markdown: &str) -> Vec<String> {
    let docs = documented(markdown);
    let mut problems = Vec::new();
    let attributes = block["attributes"].as_object().cloned().unwrap_or_default();
    for (name, attr) in &attributes {
        let kind = if attr["required"] == true {
            "Required"
        } else if attr["optional"] == true {
            "Optional"
        } else {
            "Read-Only"
        };
        match docs.get(name) {
            None => problems.push(format!(
                "`{name}` is not documented (expected under ### {kind})"
            )),
            Some((section, ty)) => {
                if section != kind {
                    problems.push(format!(
                        "`{name}` is documented under ### {section}, but the schema makes it {kind}"
                    ));
                }
                let want = type_name(&attr["type"]);
                if *ty != want {
                    problems.push(format!(
                        "`{name}` is documented as ({ty}), the schema type is ({want})"
                    ));
                }
            }
        }
    }
    for name in docs.keys() {
        if !attributes.contains_key(name) {
            problems.push(format!("`{name}` is documented but not in the schema"));
        }
    }
    problems
}

#[test]
fn the_comparison_catches_an_undocumented_attribute() {
    let block = serde_json::json!({"attributes": {
        "a": {"type": "string", "optional": true},
        "b": {"type": "bool", "computed": true},
    }});
    let doc = "## Schema\n\n### Optional\n\n- `a` (String) A.\n";
    let problems = compare(&block, doc);
    assert_eq!(
        problems,
        vec!["`b` is not documented (expected under ### Read-Only)".to_string()]
    );
    let full = format!("{doc}\n### Read-Only\n\n- `b` (Boolean) B.\n");
    assert!(compare(&block, &full).is_empty());
    let wrong = "### Required\n\n- `a` (Number) A.\n\n### Read-Only\n\n- `b` (Boolean) B.\n- `c` (String) C.\n";
    assert_eq!(compare(&block, wrong).len(), 3);
}

/// A HOME with the provider installed in Terraform's implied mirror, so `init` works offline.
fn mirror_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let status = Command::new("scripts/install.sh")
        .current_dir(ROOT)
        .env("HOME", home.path())
        .arg("--binary")
        .arg(provider_binary())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    home
}

fn terraform(bin: &Path, home: &Path, dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env_remove("TF_CLI_CONFIG_FILE")
        .env_remove("RUST_BACKTRACE")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn provider_schema(bin: &Path, home: &Path) -> Value {
    let dir = home.join("schema");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.tf"),
        "terraform {\n  required_providers {\n    m365backup = {\n      source = \"m365backup/m365backup\"\n    }\n  }\n}\n",
    )
    .unwrap();
    let (ok, text) = terraform(bin, home, &dir, &["init", "-no-color", "-input=false"]);
    assert!(ok, "init: {text}");
    let out = Command::new(bin)
        .args(["providers", "schema", "-json"])
        .current_dir(&dir)
        .env("HOME", home)
        .env_remove("TF_CLI_CONFIG_FILE")
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).expect("schema JSON");
    json["provider_schemas"]["registry.terraform.io/m365backup/m365backup"].clone()
}

#[test]
fn every_schema_attribute_is_documented_with_its_kind_and_type() {
    let bin = terraform_binaries().last().unwrap();
    let home = mirror_home();
    let schema = provider_schema(bin, home.path());
    let mut pages: Vec<(String, &Value, PathBuf)> = vec![(
        "provider".into(),
        &schema["provider"]["block"],
        Path::new(ROOT).join("docs/index.md"),
    )];
    for (kind, dir) in [
        ("resource_schemas", "resources"),
        ("data_source_schemas", "data-sources"),
    ] {
        let map = schema[kind].as_object().expect("schemas");
        assert!(!map.is_empty());
        for (name, s) in map {
            let short = name.trim_start_matches("m365backup_");
            pages.push((
                name.clone(),
                &s["block"],
                Path::new(ROOT).join(format!("docs/{dir}/{short}.md")),
            ));
        }
    }
    let mut problems = Vec::new();
    for (name, block, page) in pages {
        match std::fs::read_to_string(&page) {
            Err(_) => problems.push(format!("{name}: {} is missing", page.display())),
            Ok(text) => problems.extend(
                compare(block, &text)
                    .into_iter()
                    .map(|p| format!("{name} ({}): {p}", page.display())),
            ),
        }
    }
    assert!(
        problems.is_empty(),
        "docs and schema disagree:\n{}",
        problems.join("\n")
    );
}

fn example_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    let mut stack = vec![Path::new(ROOT).join("examples")];
    while let Some(dir) = stack.pop() {
        let mut has_tf = false;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "tf") {
                has_tf = true;
            }
        }
        if has_tf {
            roots.push(dir);
        }
    }
    roots.sort();
    roots
}

#[test]
fn every_example_is_formatted_and_valid() {
    let home = mirror_home();
    for bin in terraform_binaries() {
        let (ok, text) = terraform(
            bin,
            home.path(),
            Path::new(ROOT),
            &["fmt", "-check", "-recursive", "-diff", "examples"],
        );
        assert!(ok, "terraform fmt -check ({}):\n{text}", bin.display());
        for root in example_roots() {
            let copy = home
                .path()
                .join("validate")
                .join(root.strip_prefix(ROOT).unwrap());
            std::fs::create_dir_all(&copy).unwrap();
            for entry in std::fs::read_dir(&root).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
                }
            }
            let (ok, text) = terraform(
                bin,
                home.path(),
                &copy,
                &["init", "-no-color", "-input=false", "-backend=false"],
            );
            assert!(
                ok,
                "init of {} ({}):\n{text}",
                root.display(),
                bin.display()
            );
            let (ok, text) = terraform(bin, home.path(), &copy, &["validate", "-no-color"]);
            assert!(
                ok,
                "validate of {} ({}):\n{text}",
                root.display(),
                bin.display()
            );
            let _ = std::fs::remove_dir_all(copy.join(".terraform"));
        }
    }
}
