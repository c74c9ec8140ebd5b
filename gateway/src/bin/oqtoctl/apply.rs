//! `oqtoctl apply -f FILE`: each YAML document of the file to `POST /api/apply`, in order.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::client::Client;
use crate::output::{self, Format};

/// One document of the file, numbered from 1 as it stands there (empty ones count, so the
/// number is the one to look for in the file).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub number: usize,
    pub object: Value,
}

/// Every non-empty document, checked to be a mapping. The whole file is read before
/// anything is sent: a syntax error in the third document must not leave two applied.
pub fn documents(text: &str) -> Result<Vec<Document>> {
    let mut documents = Vec::new();
    for (index, deserializer) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let object = Value::deserialize(deserializer)
            .with_context(|| format!("document {number}: not valid YAML"))?;
        match object {
            Value::Null => continue,
            Value::Object(_) => documents.push(Document { number, object }),
            _ => bail!("document {number}: expected a Workspace or Session object"),
        }
    }
    if documents.is_empty() {
        bail!("no objects to apply: the file is empty");
    }
    Ok(documents)
}

pub async fn run(client: &Client, format: Format, file: &Path) -> Result<()> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading the objects from stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let source = if file == Path::new("-") {
        "stdin".to_owned()
    } else {
        file.display().to_string()
    };
    let documents = documents(&text).with_context(|| source.clone())?;
    let mut applied = Vec::new();
    for document in documents {
        let result = client
            .post(&["api", "apply"], &document.object)
            .await
            .with_context(|| format!("{source}: document {}", document.number));
        let answer = match result {
            Ok(answer) => answer,
            Err(error) => {
                // What was applied stays applied: say so before the error.
                if format != Format::Table && !applied.is_empty() {
                    print_objects(format, std::mem::take(&mut applied))?;
                }
                return Err(error);
            }
        };
        match format {
            Format::Table => output::print(&summary(&answer))?,
            _ => applied.push(answer.get("object").cloned().unwrap_or(Value::Null)),
        }
    }
    if format != Format::Table {
        print_objects(format, applied)?;
    }
    Ok(())
}

/// `workspace/dev created`, as kubectl words it.
pub fn summary(answer: &Value) -> String {
    let text = |key: &str| answer.get(key).and_then(Value::as_str).unwrap_or("?");
    format!(
        "{}/{} {}\n",
        text("kind").to_lowercase(),
        text("name"),
        text("action")
    )
}

fn print_objects(format: Format, mut objects: Vec<Value>) -> Result<()> {
    let value = if objects.len() == 1 {
        objects.remove(0)
    } else {
        output::list(objects)
    };
    output::print(&output::document(format, &value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_split_and_empty_ones_skipped() {
        let text = "\
---
apiVersion: oqto.dev/v1alpha1
kind: Workspace
metadata:
  name: dev
spec:
  owner: alice
---
# only a comment
---
apiVersion: oqto.dev/v1alpha1
kind: Session
metadata: {name: dev-1}
spec:
  workspaceRef: {name: dev}
  suspended: false
";
        let documents = documents(text).unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0].number, 1);
        assert_eq!(documents[0].object["spec"], json!({"owner": "alice"}));
        assert_eq!(documents[1].number, 3);
        assert_eq!(
            documents[1].object["spec"],
            json!({"workspaceRef": {"name": "dev"}, "suspended": false})
        );
    }

    #[test]
    fn a_single_document_needs_no_separator() {
        let documents = documents("kind: Workspace\nmetadata: {name: w}\n").unwrap();
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0].object["kind"], "Workspace");
    }

    #[test]
    fn bad_documents_are_named_by_number() {
        let error = documents("kind: Workspace\n---\nkind: [unclosed\n").unwrap_err();
        assert!(
            format!("{error:#}").starts_with("document 2: "),
            "{error:#}"
        );
        let error = documents("kind: Workspace\n---\n- a list\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "document 2: expected a Workspace or Session object"
        );
        assert!(documents("").is_err());
        assert!(documents("---\n---\n").is_err());
    }

    #[test]
    fn answers_read_like_kubectl() {
        let answer = json!({"kind": "Session", "name": "s1", "action": "configured", "object": {}});
        assert_eq!(summary(&answer), "session/s1 configured\n");
    }
}
