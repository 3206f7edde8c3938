//! Knowledge-base articles in the store. Persistence only: matching and
//! validation live above (`kb`).

use redb::{ReadableDatabase, ReadableTable};

use super::schema::{KB_ARTICLES, META, META_NEXT_ARTICLE};
use super::{DeskTxn, Store, StoreError, dec, enc, next_id};
use crate::records::kb::{Article, ArticleId};

const TABLE: &str = "kb_articles";

impl DeskTxn {
    /// Every article, by id.
    pub fn articles(&self) -> Result<Vec<Article>, StoreError> {
        let t = self.txn.open_table(KB_ARTICLES)?;
        t.iter()?
            .map(|r| {
                let (_, v) = r?;
                dec(TABLE, v.value())
            })
            .collect()
    }

    /// One article.
    pub fn article(&self, id: ArticleId) -> Result<Option<Article>, StoreError> {
        let t = self.txn.open_table(KB_ARTICLES)?;
        let v = t.get(id)?;
        v.map(|v| dec(TABLE, v.value())).transpose()
    }

    /// Writes `a` under its id (new or updated).
    pub fn put_article(&self, a: &Article) -> Result<(), StoreError> {
        self.txn
            .open_table(KB_ARTICLES)?
            .insert(a.id, enc(TABLE, a)?.as_slice())?;
        Ok(())
    }

    /// The id for a new article.
    pub fn next_article_id(&self) -> Result<ArticleId, StoreError> {
        next_id(&mut self.txn.open_table(META)?, META_NEXT_ARTICLE)
    }
}

impl Store {
    /// One article.
    pub fn article(&self, id: ArticleId) -> Result<Option<Article>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(KB_ARTICLES)?;
        let v = t.get(id)?;
        v.map(|v| dec(TABLE, v.value())).transpose()
    }

    /// Every article, by id.
    pub fn articles(&self) -> Result<Vec<Article>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(KB_ARTICLES)?;
        t.iter()?
            .map(|r| {
                let (_, v) = r?;
                dec(TABLE, v.value())
            })
            .collect()
    }
}
