//! The knowledge base at work: articles checked and ranked by
//! [`crate::kb`], read and written in the store. The `_in` forms work inside
//! the caller's [`DeskTxn`], so a suggestion count or a recorded solution
//! commits together with the incident it belongs to.

use atalaya_common::model::Timestamp;

use crate::kb::{self, IncidentFacts, InvalidArticle, NewArticle, matching};
use crate::records::kb::{Article, ArticleId};
use crate::store::{DeskTxn, Store, StoreError};

/// A knowledge-base operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// No article has this id.
    #[error("no knowledge-base article {0}")]
    NotFound(ArticleId),
    /// A field is empty or too long.
    #[error(transparent)]
    Invalid(#[from] InvalidArticle),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores a new article written by a person.
pub fn add(store: &Store, new: NewArticle, now: Timestamp) -> Result<Article, KbError> {
    let new = new.validate()?;
    let txn = store.begin_desk()?;
    let a = new.into_article(txn.next_article_id()?, now);
    txn.put_article(&a)?;
    txn.commit()?;
    Ok(a)
}

/// Rewrites article `id` as a person edited it: its text and signature,
/// checked like a new article; its counters and creation time stay.
pub fn edit(
    store: &Store,
    id: ArticleId,
    new: NewArticle,
    now: Timestamp,
) -> Result<Article, KbError> {
    let new = new.validate()?;
    let txn = store.begin_desk()?;
    let old = txn.article(id)?.ok_or(KbError::NotFound(id))?;
    let a = Article {
        title: new.title,
        symptoms: new.symptoms,
        solution: new.solution,
        signature: new.signature,
        updated_at: now,
        ..old
    };
    txn.put_article(&a)?;
    txn.commit()?;
    Ok(a)
}

/// Articles whose title, symptoms or solution hold every word of `q`
/// (case-insensitive), best first; at most `limit`.
pub fn search(store: &Store, q: &str, limit: usize) -> Result<Vec<Article>, KbError> {
    let arts = store.articles()?;
    Ok(matching::search(&arts, q)
        .into_iter()
        .take(limit)
        .cloned()
        .collect())
}

/// The articles that fit an incident, best first, with their scores; each
/// one returned counts as suggested once more, in one transaction.
pub fn suggest(store: &Store, facts: &IncidentFacts) -> Result<Vec<(ArticleId, u32)>, KbError> {
    let txn = store.begin_desk()?;
    let out = suggest_in(&txn, facts)?;
    txn.commit()?;
    Ok(out)
}

/// [`suggest`] inside the caller's transaction.
pub fn suggest_in(txn: &DeskTxn, facts: &IncidentFacts) -> Result<Vec<(ArticleId, u32)>, KbError> {
    let arts = txn.articles()?;
    let mut out = Vec::new();
    for (a, score) in kb::suggestions(&arts, facts) {
        let mut a = a.clone();
        a.suggested = a.suggested.saturating_add(1);
        txn.put_article(&a)?;
        out.push((a.id, score));
    }
    Ok(out)
}

/// Records how an incident was solved: with `article`, confirms it
/// (solved + 1); without, saves `solution` as a new article (see
/// [`NewArticle::from_solution`]). Returns the article's id.
pub fn record_solution(
    store: &Store,
    facts: &IncidentFacts,
    solution: &str,
    article: Option<ArticleId>,
    now: Timestamp,
) -> Result<ArticleId, KbError> {
    let txn = store.begin_desk()?;
    let id = record_solution_in(&txn, facts, solution, article, now)?;
    txn.commit()?;
    Ok(id)
}

/// [`record_solution`] inside the caller's transaction.
pub fn record_solution_in(
    txn: &DeskTxn,
    facts: &IncidentFacts,
    solution: &str,
    article: Option<ArticleId>,
    now: Timestamp,
) -> Result<ArticleId, KbError> {
    if let Some(id) = article {
        let mut a = txn.article(id)?.ok_or(KbError::NotFound(id))?;
        a.solved = a.solved.saturating_add(1);
        a.updated_at = now;
        txn.put_article(&a)?;
        return Ok(id);
    }
    let new = NewArticle::from_solution(facts, solution)?;
    let mut a = new.into_article(txn.next_article_id()?, now);
    a.solved = 1;
    txn.put_article(&a)?;
    Ok(a.id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::records::kb::Signature;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.redb")).unwrap();
        (d, s)
    }

    fn facts() -> IncidentFacts {
        IncidentFacts {
            rule: "filesystem-full".into(),
            metric: Some("filesystem.used_percent".into()),
            subject: "/var".into(),
            os_id: Some("debian".into()),
            software: vec![],
            title: "filesystem-full on web-01 (/var)".into(),
            description: "/var is 95 % full".into(),
            words: Vec::new(),
        }
    }

    #[test]
    fn suggest_counts_and_record_solution_confirms_or_creates() {
        let (_d, s) = store();
        let a = add(
            &s,
            NewArticle {
                title: "  Logs fill /var ".into(),
                symptoms: "disk full".into(),
                solution: "rotate logs".into(),
                signature: Signature {
                    rule: Some("filesystem-full".into()),
                    ..Signature::default()
                },
            },
            Timestamp(10),
        )
        .unwrap();
        assert_eq!(a.title, "Logs fill /var");
        add(
            &s,
            NewArticle {
                title: "Debian tips".into(),
                solution: "apt clean".into(),
                signature: Signature {
                    os: Some("debian".into()),
                    ..Signature::default()
                },
                ..NewArticle::default()
            },
            Timestamp(11),
        )
        .unwrap();
        let got = suggest(&s, &facts()).unwrap();
        assert_eq!(
            got,
            vec![(a.id, matching::WEIGHT_RULE), (2, matching::WEIGHT_OS)]
        );
        assert_eq!(s.article(a.id).unwrap().unwrap().suggested, 1);

        assert_eq!(
            record_solution(&s, &facts(), "x", Some(a.id), Timestamp(20)).unwrap(),
            a.id
        );
        let a2 = s.article(a.id).unwrap().unwrap();
        assert_eq!((a2.solved, a2.updated_at), (1, Timestamp(20)));

        let new = record_solution(&s, &facts(), "grow the LV", None, Timestamp(30)).unwrap();
        let n = s.article(new).unwrap().unwrap();
        assert_eq!(n.title, "filesystem-full on web-01 (/var)");
        assert_eq!(n.symptoms, "/var is 95 % full");
        assert_eq!(n.signature.rule.as_deref(), Some("filesystem-full"));
        assert_eq!(
            n.signature.metric.as_deref(),
            Some("filesystem.used_percent")
        );
        assert_eq!(n.solved, 1);
        assert_eq!(s.articles().unwrap().len(), 3);
        assert!(matches!(
            record_solution(&s, &facts(), "x", Some(99), Timestamp(40)),
            Err(KbError::NotFound(99))
        ));
        assert_eq!(search(&s, "GROW lv", 10).unwrap()[0].id, new);
    }

    #[test]
    fn an_edit_keeps_the_counters_and_is_checked() {
        let (_d, s) = store();
        let a = add(
            &s,
            NewArticle {
                title: "Old".into(),
                solution: "old fix".into(),
                ..NewArticle::default()
            },
            Timestamp(10),
        )
        .unwrap();
        record_solution(&s, &facts(), "", Some(a.id), Timestamp(15)).unwrap();
        let e = edit(
            &s,
            a.id,
            NewArticle {
                title: " New title ".into(),
                symptoms: "slow".into(),
                solution: "new fix".into(),
                signature: Signature {
                    rule: Some(" filesystem-full ".into()),
                    ..Signature::default()
                },
            },
            Timestamp(20),
        )
        .unwrap();
        assert_eq!(e.title, "New title");
        assert_eq!(e.signature.rule.as_deref(), Some("filesystem-full"));
        assert_eq!(
            (e.solved, e.created_at, e.updated_at),
            (1, Timestamp(10), Timestamp(20))
        );
        assert_eq!(s.article(a.id).unwrap().unwrap(), e);
        let err = edit(&s, a.id, NewArticle::default(), Timestamp(30)).unwrap_err();
        assert!(err.to_string().contains("`title`"), "{err}");
        assert_eq!(s.article(a.id).unwrap().unwrap(), e);
        assert!(matches!(
            edit(&s, 99, e_new(), Timestamp(30)),
            Err(KbError::NotFound(99))
        ));
    }

    fn e_new() -> NewArticle {
        NewArticle {
            title: "t".into(),
            solution: "s".into(),
            ..NewArticle::default()
        }
    }

    #[test]
    fn bad_articles_are_refused_naming_the_field() {
        let (_d, s) = store();
        let e = add(&s, NewArticle::default(), Timestamp(0)).unwrap_err();
        assert!(e.to_string().contains("`title`"), "{e}");
        let e = add(
            &s,
            NewArticle {
                title: "t".into(),
                solution: "s".into(),
                signature: Signature {
                    software_version: Some("1.*".into()),
                    ..Signature::default()
                },
                ..NewArticle::default()
            },
            Timestamp(0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("software_version"), "{e}");
        assert!(s.articles().unwrap().is_empty());
    }
}
