//! A project: the parsed files of the scanned tree and their module names.
//!
//! Module names come from the package structure among the scanned files: a directory
//! is a package when the scan holds its `__init__.py`. Two unrelated apps in one scan
//! may both have an `app` module; imports prefer the module under the same root.

use std::path::{Path, PathBuf};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::source::SourceFile;

pub type ModuleId = usize;

pub struct ModuleInfo {
    pub name: String,
    pub file: usize,
    pub is_package: bool,
    /// The first directory above the module that is not a package.
    pub root: PathBuf,
}

pub struct Project {
    files: Vec<SourceFile>,
    modules: Vec<ModuleInfo>,
    by_name: FxHashMap<String, Vec<ModuleId>>,
}

impl Project {
    pub fn new(files: Vec<SourceFile>) -> Project {
        let package_dirs: FxHashSet<&Path> = files
            .iter()
            .filter(|f| f.path.file_name().is_some_and(|n| n == "__init__.py"))
            .filter_map(|f| f.path.parent())
            .collect();
        let mut modules = Vec::with_capacity(files.len());
        for (file, source) in files.iter().enumerate() {
            let path = &source.path;
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("module");
            let is_package = stem == "__init__";
            let mut parts: Vec<String> = Vec::new();
            if !is_package {
                parts.push(stem.to_string());
            }
            let mut dir = path.parent();
            let mut depth = 0;
            while let Some(d) = dir {
                if !package_dirs.contains(d) || depth > 64 {
                    break;
                }
                match d.file_name().and_then(|n| n.to_str()) {
                    Some(name) => parts.push(name.to_string()),
                    None => break,
                }
                dir = d.parent();
                depth += 1;
            }
            parts.reverse();
            let name = if parts.is_empty() {
                stem.to_string()
            } else {
                parts.join(".")
            };
            modules.push(ModuleInfo {
                name,
                file,
                is_package,
                root: dir.map(Path::to_path_buf).unwrap_or_default(),
            });
        }
        let mut by_name: FxHashMap<String, Vec<ModuleId>> = FxHashMap::default();
        for (id, module) in modules.iter().enumerate() {
            by_name.entry(module.name.clone()).or_default().push(id);
        }
        Project {
            files,
            modules,
            by_name,
        }
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    pub fn file(&self, id: usize) -> &SourceFile {
        &self.files[id]
    }

    pub fn modules(&self) -> impl Iterator<Item = (ModuleId, &ModuleInfo)> {
        self.modules.iter().enumerate()
    }

    pub fn module(&self, id: ModuleId) -> &ModuleInfo {
        &self.modules[id]
    }

    pub fn module_name(&self, id: ModuleId) -> &str {
        &self.modules[id].name
    }

    /// Module of a file (every file is a module).
    pub fn module_of_file(&self, file: usize) -> ModuleId {
        file
    }

    /// Finds a module by dotted name, preferring one under the same root as `from`.
    pub fn module_by_name(&self, name: &str, from: ModuleId) -> Option<ModuleId> {
        let candidates = self.by_name.get(name)?;
        let root = &self.modules[from].root;
        candidates
            .iter()
            .copied()
            .find(|&c| &self.modules[c].root == root)
            .or_else(|| candidates.first().copied())
    }

    /// The absolute module named by `from <level dots><module> import ...` in `from`.
    pub fn absolute_import(
        &self,
        from: ModuleId,
        module: Option<&str>,
        level: u32,
    ) -> Option<String> {
        if level == 0 {
            return module.map(str::to_string);
        }
        let info = &self.modules[from];
        let mut package: Vec<&str> = info.name.split('.').collect();
        if !info.is_package {
            package.pop();
        }
        for _ in 1..level {
            package.pop()?;
        }
        if let Some(module) = module {
            package.extend(module.split('.'));
        }
        if package.is_empty() {
            return None;
        }
        Some(package.join("."))
    }
}
