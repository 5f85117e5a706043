//! `kraftbridge metadata-shell` (Kafka's `kafka-metadata-shell.sh`): loads the KRaft metadata
//! from a snapshot or log file (`--snapshot`) or from a `__cluster_metadata-0` directory
//! (`--dir`: its latest snapshot, then the log segments after it) and lets the user browse it
//! as a file tree with `ls`, `cat`, `cd`, `pwd`, `find` and `tree`.
//!
//! The records go through the one metadata path, `MetadataDelta` → `MetadataImage`, as the
//! server replays them; the tree is then drawn from the image, in the layout of Kafka's
//! KRaft-preview shell that its README shows: `/brokers/<id>/…`, `/topics/<name>/<partition>/data`,
//! `/topicIds/<id>/…`, `/configs/<type>/<name>/<key>`, `/features/<name>`, `/clusterId`, …
//! Files hold text: JSON in Kafka's field names (pretty-printed as Kafka's shell does) or a
//! plain value.
//!
//! With commands on the command line it runs them and exits; otherwise it reads commands from
//! standard input after a `>> ` prompt. Reads files only; never writes.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bytes::Bytes;
use metadata::{DecodedBatch, MetadataDelta, MetadataImage, MetadataRecord};
use protocol::records::{log_batches, LogScanError};

use super::dump_log::snapshot_id;

/// A node of the shell's tree: a directory of named children, or a file of text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Dir(BTreeMap<String, Node>),
    File(String),
}

impl Node {
    fn dir() -> Node {
        Node::Dir(BTreeMap::new())
    }

    /// Adds `child` under `name` (this node is a directory by construction).
    fn with(mut self, name: impl Into<String>, child: Node) -> Node {
        if let Node::Dir(children) = &mut self {
            children.insert(name.into(), child);
        }
        self
    }

    fn file(text: impl ToString) -> Node {
        Node::File(text.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Replays the batches of one segment or snapshot file into `delta`, skipping batches that end
/// before `from_offset` (already in the snapshot). A partial batch at the end (a crash tail)
/// ends the file; corruption is an error naming the file and byte position.
fn replay_file(
    path: &Path,
    delta: &mut MetadataDelta,
    from_offset: i64,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let bytes = Bytes::from(
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    for batch in log_batches(&bytes) {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e @ LogScanError::TruncatedTail { .. }) => {
                writeln!(err, "{}: ignoring a {e}", path.display())?;
                break;
            }
            Err(LogScanError::Corrupt { position, error }) => {
                bail!(
                    "{}: corrupt batch at position {position}: {error}",
                    path.display()
                )
            }
        };
        if batch.header.last_offset() < from_offset {
            continue;
        }
        let decoded = metadata::decode_batch(&batch).with_context(|| {
            format!(
                "{}: batch at offset {}",
                path.display(),
                batch.header.base_offset
            )
        })?;
        if let DecodedBatch::Data(b) = decoded {
            for f in delta.replay_batch(&b) {
                writeln!(
                    err,
                    "{}: {} at offset {} skipped: {}",
                    path.display(),
                    f.record,
                    f.offset,
                    f.error
                )?;
            }
        }
    }
    Ok(())
}

/// The image in one snapshot (`*.checkpoint`) or log segment (`*.log`).
pub(crate) fn load_file(path: &Path, err: &mut dyn Write) -> anyhow::Result<MetadataImage> {
    let mut delta = MetadataDelta::new(&MetadataImage::empty());
    replay_file(path, &mut delta, 0, err)?;
    Ok(delta.apply())
}

/// The image of a `__cluster_metadata-0` directory: its latest snapshot, then the records of
/// its log segments that come after the snapshot.
pub(crate) fn load_dir(dir: &Path, err: &mut dyn Write) -> anyhow::Result<MetadataImage> {
    let mut snapshots: Vec<(i64, PathBuf)> = Vec::new();
    let mut segments: Vec<(i64, PathBuf)> = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some((offset, _)) = snapshot_id(&name) {
            snapshots.push((offset, path));
        } else if let Some(Ok(base)) = name.strip_suffix(".log").map(str::parse::<i64>) {
            segments.push((base, path));
        }
    }
    if snapshots.is_empty() && segments.is_empty() {
        bail!(
            "{}: no snapshot (*.checkpoint) or log segment (*.log) here; \
             expected a __cluster_metadata-0 directory",
            dir.display()
        );
    }
    segments.sort();
    let mut delta = MetadataDelta::new(&MetadataImage::empty());
    // A snapshot's name is the offset after its last record.
    let from_offset = match snapshots.iter().max() {
        Some((end_offset, path)) => {
            replay_file(path, &mut delta, 0, err)?;
            *end_offset
        }
        None => 0,
    };
    for (_, path) in &segments {
        replay_file(path, &mut delta, from_offset, err)?;
    }
    Ok(delta.apply())
}

/// The cluster id from the `meta.properties` of the log directory holding `metadata_dir`.
fn cluster_id_of(metadata_dir: &Path) -> Option<String> {
    let log_dir = metadata_dir.parent()?;
    let props = storage::meta_properties::read(log_dir).ok()??;
    props.cluster_id().map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------------

/// Kafka's `ConfigResource.Type` names, lower-cased as the shell shows them.
fn config_type_name(resource_type: i8) -> String {
    match resource_type {
        2 => "topic".into(),
        4 => "broker".into(),
        8 => "broker_logger".into(),
        16 => "client_metrics".into(),
        32 => "group".into(),
        other => format!("unknown({other})"),
    }
}

fn record_json(record: &MetadataRecord) -> String {
    record.body.to_json(record.version).to_pretty()
}

/// Draws the tree of `image`.
pub(crate) fn build_tree(image: &MetadataImage, cluster_id: Option<&str>) -> Node {
    let mut brokers = Node::dir();
    for (id, b) in image.cluster.brokers.iter() {
        brokers = brokers.with(
            id.to_string(),
            Node::dir()
                .with("registration", Node::file(record_json(&b.to_record())))
                .with("isFenced", Node::file(b.fenced))
                .with("inControlledShutdown", Node::file(b.in_controlled_shutdown)),
        );
    }
    let mut controllers = Node::dir();
    for (id, c) in image.cluster.controllers.iter() {
        controllers = controllers.with(
            id.to_string(),
            Node::dir().with("registration", Node::file(record_json(&c.to_record()))),
        );
    }
    let mut topics = Node::dir();
    let mut topic_ids = Node::dir();
    for t in image.topics.iter_by_name() {
        let mut node = Node::dir()
            .with("id", Node::file(t.id))
            .with("name", Node::file(&t.name));
        for (p, registration) in &t.partitions {
            let data = record_json(&registration.to_record(t.id, *p));
            node = node.with(p.to_string(), Node::dir().with("data", Node::file(data)));
        }
        // Kafka's shell links the same directory under both names.
        topic_ids = topic_ids.with(t.id.to_string(), node.clone());
        topics = topics.with(t.name.clone(), node);
    }
    let mut configs: BTreeMap<String, BTreeMap<String, Node>> = BTreeMap::new();
    for (resource, entries) in image.configs.resources.iter() {
        let mut node = Node::dir();
        for (key, value) in entries {
            node = node.with(key.clone(), Node::file(value));
        }
        let name = if resource.name.is_empty() {
            "<default>".to_string()
        } else {
            resource.name.clone()
        };
        configs
            .entry(config_type_name(resource.resource_type))
            .or_default()
            .insert(name, node);
    }
    let mut features = Node::dir();
    for (name, level) in &image.features.levels {
        features = features.with(name.clone(), Node::file(level));
    }
    let p = image.provenance;
    let mut root = Node::dir()
        .with("brokers", brokers)
        .with("controllers", controllers)
        .with("topics", topics)
        .with("topicIds", topic_ids)
        .with(
            "configs",
            configs
                .into_iter()
                .fold(Node::dir(), |d, (t, names)| d.with(t, Node::Dir(names))),
        )
        .with("features", features)
        .with(
            "producerIds",
            Node::dir().with(
                "nextProducerId",
                Node::file(image.producer_ids.next_producer_id),
            ),
        )
        .with(
            "metadataQuorum",
            Node::dir()
                .with("offset", Node::file(p.last_contained_offset))
                .with("epoch", Node::file(p.last_contained_epoch)),
        )
        .with(
            "local",
            Node::dir().with("version", Node::file(env!("CARGO_PKG_VERSION"))),
        );
    if let Some(id) = cluster_id {
        root = root.with("clusterId", Node::file(id));
    }
    root
}

// ---------------------------------------------------------------------------------------------
// The shell
// ---------------------------------------------------------------------------------------------

const HELP: &[(&str, &str)] = &[
    ("cat", "Show the contents of metadata files."),
    ("cd", "Set the current working directory."),
    ("exit", "Exit the metadata shell."),
    ("find", "Search for nodes in the directory hierarchy."),
    ("help", "Display this help message."),
    ("ls", "List metadata nodes."),
    ("pwd", "Print the current working directory."),
    ("tree", "Print a tree of metadata nodes."),
];

/// The shell's state: the tree and the working directory.
#[derive(Debug)]
pub(crate) struct Shell {
    root: Node,
    cwd: Vec<String>,
}

fn show(path: &[String]) -> String {
    format!("/{}", path.join("/"))
}

/// `*` and `?` glob matching of one path component, as Kafka's shell allows.
fn glob_match(pattern: &[char], name: &[char]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..]))
        }
        (Some('?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

impl Shell {
    pub(crate) fn new(root: Node) -> Shell {
        Shell {
            root,
            cwd: Vec::new(),
        }
    }

    fn node(&self, path: &[String]) -> Option<&Node> {
        path.iter().try_fold(&self.root, |node, name| match node {
            Node::Dir(children) => children.get(name),
            Node::File(_) => None,
        })
    }

    /// Every existing path `target` names (globs may name several), in sorted order.
    fn resolve(&self, target: &str) -> Vec<Vec<String>> {
        let mut paths: Vec<Vec<String>> = vec![if target.starts_with('/') {
            Vec::new()
        } else {
            self.cwd.clone()
        }];
        for part in target.split('/').filter(|p| !p.is_empty() && *p != ".") {
            let mut next = Vec::new();
            for mut path in paths {
                if part == ".." {
                    path.pop();
                    next.push(path);
                } else if part.contains(['*', '?']) {
                    if let Some(Node::Dir(children)) = self.node(&path) {
                        let pattern: Vec<char> = part.chars().collect();
                        for name in children.keys() {
                            let chars: Vec<char> = name.chars().collect();
                            if glob_match(&pattern, &chars) {
                                let mut p = path.clone();
                                p.push(name.clone());
                                next.push(p);
                            }
                        }
                    }
                } else {
                    path.push(part.to_string());
                    next.push(path);
                }
            }
            paths = next;
        }
        paths.retain(|p| self.node(p).is_some());
        paths.dedup();
        paths
    }

    /// Runs one command line (already split into words). Returns false on `exit`.
    pub(crate) fn run(&mut self, words: &[String], out: &mut dyn Write) -> anyhow::Result<bool> {
        let Some((command, args)) = words.split_first() else {
            return Ok(true);
        };
        let targets: Vec<String> = if args.is_empty() {
            vec![show(&self.cwd)]
        } else {
            args.to_vec()
        };
        match command.as_str() {
            "exit" => return Ok(false),
            "help" => {
                writeln!(out, "Welcome to the kraftbridge metadata shell.\n")?;
                for (name, what) in HELP {
                    writeln!(out, "  {name:<6} {what}")?;
                }
            }
            "pwd" => writeln!(out, "{}", show(&self.cwd))?,
            "cd" => self.cd(args, out)?,
            "ls" => self.ls(&targets, out)?,
            "cat" => {
                for target in args {
                    let paths = self.resolve(target);
                    if paths.is_empty() {
                        writeln!(out, "cat: {target}: no such file or directory.")?;
                    }
                    for path in paths {
                        match self.node(&path) {
                            Some(Node::File(text)) => writeln!(out, "{text}")?,
                            _ => writeln!(out, "cat: {}: is a directory.", show(&path))?,
                        }
                    }
                }
            }
            "find" => {
                for target in &targets {
                    let paths = self.resolve(target);
                    if paths.is_empty() {
                        writeln!(out, "find: {target}: no such file or directory.")?;
                    }
                    for path in paths {
                        self.find(&path, out)?;
                    }
                }
            }
            "tree" => {
                for target in &targets {
                    let paths = self.resolve(target);
                    if paths.is_empty() {
                        writeln!(out, "tree: {target}: no such file or directory.")?;
                    }
                    for path in paths {
                        if let Some(node) = self.node(&path) {
                            write_tree(out, &show(&path), node, 0)?;
                        }
                    }
                }
            }
            other => writeln!(out, "Unknown command `{other}`. Type help to get help.")?,
        }
        Ok(true)
    }

    fn cd(&mut self, args: &[String], out: &mut dyn Write) -> anyhow::Result<()> {
        let target = args.first().map_or("/", String::as_str);
        match self.resolve(target).as_slice() {
            [path] => match self.node(path) {
                Some(Node::Dir(_)) => self.cwd = path.clone(),
                _ => writeln!(out, "cd: {target}: not a directory.")?,
            },
            [] => writeln!(out, "cd: {target}: no such directory.")?,
            _ => writeln!(out, "cd: {target}: more than one directory matches.")?,
        }
        Ok(())
    }

    /// Kafka's `ls`: files named first, then each directory's children (under a `path:`
    /// heading when more than one target was given), one per line.
    fn ls(&self, targets: &[String], out: &mut dyn Write) -> anyhow::Result<()> {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        for target in targets {
            let paths = self.resolve(target);
            if paths.is_empty() {
                writeln!(out, "ls: {target}: no such file or directory.")?;
            }
            for path in paths {
                match self.node(&path) {
                    Some(Node::Dir(children)) => dirs.push((path, children)),
                    _ => files.push(path.last().cloned().unwrap_or_default()),
                }
            }
        }
        for f in &files {
            writeln!(out, "{f}")?;
        }
        let headings = files.len() + dirs.len() > 1;
        for (i, (path, children)) in dirs.iter().enumerate() {
            if headings {
                if i > 0 || !files.is_empty() {
                    writeln!(out)?;
                }
                writeln!(out, "{}:", show(path))?;
            }
            for name in children.keys() {
                writeln!(out, "{name}")?;
            }
        }
        Ok(())
    }

    fn find(&self, path: &[String], out: &mut dyn Write) -> anyhow::Result<()> {
        writeln!(out, "{}", show(path))?;
        if let Some(Node::Dir(children)) = self.node(path) {
            for name in children.keys() {
                let mut child = path.to_vec();
                child.push(name.clone());
                self.find(&child, out)?;
            }
        }
        Ok(())
    }
}

/// `name:` for a directory with its children indented under it; `name: text` for a file.
fn write_tree(out: &mut dyn Write, name: &str, node: &Node, depth: usize) -> anyhow::Result<()> {
    let indent = "  ".repeat(depth);
    match node {
        Node::File(text) => {
            let text = text.replace('\n', &format!("\n{indent}  "));
            writeln!(out, "{indent}{name}: {text}")?;
        }
        Node::Dir(children) => {
            writeln!(out, "{indent}{name}:")?;
            for (child, node) in children {
                write_tree(out, child, node, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// `kraftbridge metadata-shell`: loads the metadata, then runs `command` (if given) or an
/// interactive session on `input`.
pub(crate) fn shell_command(
    snapshot: Option<&Path>,
    dir: Option<&Path>,
    command: &[String],
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let (image, cluster_id) = match (snapshot, dir) {
        (Some(file), None) => (load_file(file, err)?, None),
        (None, Some(dir)) => (load_dir(dir, err)?, cluster_id_of(dir)),
        _ => bail!("give exactly one of --snapshot FILE and --dir DIR"),
    };
    let mut shell = Shell::new(build_tree(&image, cluster_id.as_deref()));
    if !command.is_empty() {
        shell.run(command, out)?;
        return Ok(());
    }
    let mut line = String::new();
    loop {
        write!(out, ">> ")?;
        out.flush()?;
        line.clear();
        if input.read_line(&mut line)? == 0 {
            writeln!(out)?;
            return Ok(());
        }
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if !shell.run(&words, out)? {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests;
