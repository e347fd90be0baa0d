//! Docs and schema agree: every attribute of the provider, each resource and each data source is
//! documented under `docs/` in the section of its kind (Required / Optional / Read-Only) with its
//! type and with the schema's own description, word for word, and nothing documented is missing
//! from the schema (also the fields of nested objects). The docs are written by hand: no page
//! claims to be generated. Every example passes `terraform fmt -check` and `terraform validate`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One documented attribute: its section, type and description.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Documented {
    section: String,
    ty: String,
    description: String,
}

/// What a page documents: its top-level attributes (from `### Required|Optional|Read-Only` lists)
/// and the field names of each `### Nested Schema for `name`` list.
#[derive(Debug, Default)]
struct Page {
    attributes: BTreeMap<String, Documented>,
    nested: BTreeMap<String, Vec<String>>,
}

/// Section, type and description of each documented attribute.
fn documented(markdown: &str) -> Page {
    let mut page = Page::default();
    let mut section: Option<String> = None;
    let mut nested: Option<String> = None;
    for line in markdown.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            let title = title.trim();
            section = ["Required", "Optional", "Read-Only"]
                .contains(&title)
                .then(|| title.to_string());
            nested = title
                .strip_prefix("Nested Schema for `")
                .and_then(|t| t.strip_suffix('`'))
                .map(str::to_string);
            if let Some(name) = &nested {
                page.nested.entry(name.clone()).or_default();
            }
            continue;
        }
        if line.starts_with("## ") {
            section = None;
            nested = None;
            continue;
        }
        let Some(rest) = line.strip_prefix("- `") else {
            continue;
        };
        let Some((name, after)) = rest.split_once('`') else {
            continue;
        };
        if let Some(parent) = &nested {
            page.nested.get_mut(parent).unwrap().push(name.to_string());
            continue;
        }
        let Some(section) = &section else {
            continue;
        };
        let (ty, description) = after
            .trim_start()
            .strip_prefix('(')
            .and_then(|t| t.split_once(')'))
            .map(|(t, d)| (t.to_string(), d.trim().to_string()))
            .unwrap_or_default();
        // The pointer to a nested list is the page's, not the schema's.
        let description = match description.split_once(" (see [below for nested schema]") {
            Some((d, _)) => d.to_string(),
            None => description,
        };
        page.attributes.insert(
            name.to_string(),
            Documented {
                section: section.clone(),
                ty,
                description,
            },
        );
    }
    page
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

/// The field names of an object type (`["list", ["object", {...}]]` and the like), if any.
fn object_fields(ty: &Value) -> Option<Vec<String>> {
    match ty {
        Value::Array(parts) if parts.first() == Some(&Value::from("object")) => parts
            .get(1)?
            .as_object()
            .map(|m| m.keys().cloned().collect()),
        Value::Array(parts) if parts.len() == 2 => object_fields(&parts[1]),
        _ => None,
    }
}

/// The description a page must show for a schema attribute: the schema's own, after "Sensitive."
/// for sensitive ones.
fn expected_description(attr: &Value) -> String {
    let description = attr["description"].as_str().unwrap_or_default().trim();
    if attr["sensitive"] == true && !description.starts_with("Sensitive.") {
        format!("Sensitive. {description}")
    } else {
        description.to_string()
    }
}

/// Differences between a schema block and its documentation page (empty = agree).
fn compare(block: &Value, markdown: &str) -> Vec<String> {
    let page = documented(markdown);
    let docs = &page.attributes;
    let mut problems = Vec::new();
    if markdown.contains("tfplugindocs") {
        problems.push(
            "the page says it was generated by tfplugindocs, but the docs are written by hand"
                .to_string(),
        );
    }
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
            Some(doc) => {
                if doc.section != kind {
                    problems.push(format!(
                        "`{name}` is documented under ### {}, but the schema makes it {kind}",
                        doc.section
                    ));
                }
                let want = type_name(&attr["type"]);
                if doc.ty != want {
                    problems.push(format!(
                        "`{name}` is documented as ({}), the schema type is ({want})",
                        doc.ty
                    ));
                }
                let want = expected_description(attr);
                if want.is_empty() {
                    problems.push(format!("`{name}` has no description in the schema"));
                } else if doc.description != want {
                    problems.push(format!(
                        "`{name}`: the page says\n    {}\n  the schema says\n    {want}",
                        doc.description
                    ));
                }
            }
        }
        match (object_fields(&attr["type"]), page.nested.get(name)) {
            (Some(fields), Some(listed)) => {
                for f in &fields {
                    if !listed.contains(f) {
                        problems.push(format!("`{name}.{f}` is not documented"));
                    }
                }
                for f in listed {
                    if !fields.contains(f) {
                        problems.push(format!("`{name}.{f}` is documented but not in the schema"));
                    }
                }
            }
            (Some(_), None) => problems.push(format!(
                "`{name}` is an object: its fields are not documented (### Nested Schema for `{name}`)"
            )),
            (None, Some(_)) => problems.push(format!(
                "`{name}` has a nested schema on the page, but is not an object in the schema"
            )),
            (None, None) => {}
        }
    }
    for name in docs.keys() {
        if !attributes.contains_key(name) {
            problems.push(format!("`{name}` is documented but not in the schema"));
        }
    }
    let blocks = block["block_types"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (name, nested) in &blocks {
        problems.extend(compare_block(name, &nested["block"], markdown));
    }
    for name in page.nested.keys() {
        if !attributes.contains_key(name) {
            problems.push(format!(
                "a nested schema is documented for `{name}`, which is not in the schema"
            ));
        }
    }
    problems
}

/// A nested block (such as `timeouts`) is documented in its own `## <Name>` section, one
/// `- `attr` (Type) description` line per attribute, word for word.
fn compare_block(name: &str, block: &Value, markdown: &str) -> Vec<String> {
    let heading = format!("## {}{}", name[..1].to_uppercase(), &name[1..]);
    let Some(start) = markdown.lines().position(|l| l.trim() == heading) else {
        return vec![format!(
            "the `{name}` block is not documented (expected a `{heading}` section)"
        )];
    };
    let section: String = markdown
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("## "))
        .map(|l| format!("{l}\n"))
        .collect();
    let listed = documented(&format!("### Optional\n{section}")).attributes;
    let attributes = block["attributes"].as_object().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    for (attr_name, attr) in &attributes {
        let want = format!(
            "({}) {}",
            type_name(&attr["type"]),
            expected_description(attr)
        );
        match listed.get(attr_name) {
            None => problems.push(format!("`{name}.{attr_name}` is not documented under {heading}")),
            Some(doc) if format!("({}) {}", doc.ty, doc.description) != want => problems.push(format!(
                "`{name}.{attr_name}`: the page says\n    ({}) {}\n  the schema says\n    {want}",
                doc.ty, doc.description
            )),
            Some(_) => {}
        }
    }
    for attr_name in listed.keys() {
        if !attributes.contains_key(attr_name) {
            problems.push(format!(
                "`{name}.{attr_name}` is documented but not in the schema"
            ));
        }
    }
    problems
}

#[test]
fn the_comparison_checks_nested_blocks() {
    let block = serde_json::json!({"attributes": {}, "block_types": {"timeouts": {"nesting_mode": "single", "block": {"attributes": {
        "create": {"type": "string", "optional": true, "description": "Create bound."},
    }}}}});
    let good =
        "## Timeouts\n\nAn optional block.\n\n- `create` (String) Create bound.\n\n## Import\n";
    assert_eq!(compare(&block, good), Vec::<String>::new());
    assert_eq!(compare(&block, "## Import\n").len(), 1, "a missing section");
    assert_eq!(
        compare(&block, &good.replace("Create bound.", "Bound.")).len(),
        1
    );
    let extra = good.replace(
        "\n\n## Import",
        "\n- `delete` (String) Delete bound.\n\n## Import",
    );
    assert_eq!(compare(&block, &extra).len(), 1);
}

#[test]
fn the_comparison_catches_an_undocumented_attribute() {
    let block = serde_json::json!({"attributes": {
        "a": {"type": "string", "optional": true, "description": "A."},
        "b": {"type": "bool", "computed": true, "description": "B."},
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

#[test]
fn the_comparison_checks_descriptions_nested_fields_and_origin() {
    let block = serde_json::json!({"attributes": {
        "secret": {"type": "string", "optional": true, "sensitive": true, "description": "The secret."},
        "items": {"type": ["list", ["object", {"id": "string", "name": "string"}]], "computed": true, "description": "Items."},
    }});
    let good = "### Optional\n\n- `secret` (String) Sensitive. The secret.\n\n### Read-Only\n\n\
                - `items` (List of Object) Items. (see [below for nested schema](#nestedatt--items))\n\n\
                ### Nested Schema for `items`\n\nRead-Only:\n\n- `id` (String) Id.\n- `name` (String) Name.\n";
    assert_eq!(compare(&block, good), Vec::<String>::new());
    // A description that drifted from the schema, in either direction.
    let drifted = good.replace("Sensitive. The secret.", "The secret.");
    assert_eq!(
        compare(&block, &drifted).len(),
        1,
        "{:?}",
        compare(&block, &drifted)
    );
    let drifted = good.replace("Items. (see", "Every item. (see");
    assert_eq!(compare(&block, &drifted).len(), 1);
    // Nested fields, both ways.
    let missing = good.replace("- `name` (String) Name.\n", "");
    assert_eq!(
        compare(&block, &missing),
        vec!["`items.name` is not documented".to_string()]
    );
    let extra = format!("{good}- `size` (Number) Size.\n");
    assert_eq!(
        compare(&block, &extra),
        vec!["`items.size` is documented but not in the schema".to_string()]
    );
    // A page must not claim to be generated.
    let claimed = format!("<!-- schema generated by tfplugindocs -->\n{good}");
    assert_eq!(compare(&block, &claimed).len(), 1);
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

/// Copies `from` into `to` recursively (files and directories only).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name == ".terraform" || name == ".terraform.lock.hcl" {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(name));
        } else if path.is_file() {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
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
        // One copy of the whole tree, so that `source = "../modules/tenant"` resolves.
        let copy_root = home.path().join("validate");
        let _ = std::fs::remove_dir_all(&copy_root);
        copy_tree(
            &Path::new(ROOT).join("examples"),
            &copy_root.join("examples"),
        );
        for root in example_roots() {
            let copy = copy_root.join(root.strip_prefix(ROOT).unwrap());
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

/// Every file users read: README.md, docs/ and examples/.
fn user_facing_files() -> Vec<PathBuf> {
    let mut files = vec![Path::new(ROOT).join("README.md")];
    let mut stack = vec![
        Path::new(ROOT).join("docs"),
        Path::new(ROOT).join("examples"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != ".terraform") {
                    stack.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A literal date and time (`2030-01-15T09:00:00`) in `text`, if any.
fn date_time_literal(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd";
    (0..b.len().saturating_sub(shape.len() - 1)).find_map(|i| {
        let ok = shape.iter().enumerate().all(|(k, &c)| {
            let x = b[i + k];
            if c == b'd' {
                x.is_ascii_digit()
            } else {
                x == c
            }
        });
        ok.then(|| &text[i..i + shape.len()])
    })
}

/// Code a reader copies: fenced blocks of Markdown files, and whole example files.
fn copyable_code(path: &Path, text: &str) -> Vec<String> {
    if path.extension().is_some_and(|e| e == "md") {
        let mut blocks = Vec::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                match current.take() {
                    Some(block) => blocks.push(block),
                    None => current = Some(String::new()),
                }
            } else if let Some(block) = current.as_mut() {
                block.push_str(line);
                block.push('\n');
            }
        }
        blocks
    } else {
        vec![text.to_string()]
    }
}

#[test]
fn docs_link_nothing_users_lack_and_print_no_dates_that_expire() {
    let mut problems = Vec::new();
    for path in user_facing_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let shown = path.strip_prefix(ROOT).unwrap().display().to_string();
        if text.contains("../shared") || text.contains("shared/reference") {
            problems.push(format!(
                "{shown} links to the project's shared reference, which users do not have"
            ));
        }
        if text.contains("tfplugindocs") {
            problems.push(format!("{shown} claims to be generated by tfplugindocs"));
        }
        // An effective date must lie 7 to 30 days after the apply: any fixed date in code a reader
        // copies is wrong within a month. Use effective_after or a placeholder.
        for block in copyable_code(&path, &text) {
            if let Some(date) = date_time_literal(&block) {
                problems.push(format!(
                    "{shown} prints the fixed date {date} in copyable code"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
