//! The category tree held in memory: lookups by id and slug, and the
//! nested tree served by `/api/categories`. Rebuilt when the catalog changes.

use std::collections::HashMap;

use uuid::Uuid;

use super::model::{Category, CategoryNode, CategoryRef};
use crate::ports::CategoryRow;

#[derive(Debug, Default)]
pub struct CategoryIndex {
    /// The catalog version this index was built from.
    pub version: i64,
    rows: Vec<CategoryRow>,
    by_id: HashMap<Uuid, usize>,
    by_slug: HashMap<String, usize>,
    by_key: HashMap<i64, usize>,
    roots: Vec<CategoryNode>,
}

impl CategoryIndex {
    pub fn new(version: i64, rows: Vec<CategoryRow>) -> CategoryIndex {
        let by_id = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.category.id, i))
            .collect();
        let by_slug = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.category.slug.as_str().to_owned(), i))
            .collect();
        let by_key = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.category.key, i))
            .collect();
        let roots = build_tree(&rows);
        CategoryIndex {
            version,
            rows,
            by_id,
            by_slug,
            by_key,
            roots,
        }
    }

    pub fn resolve(&self, r: &CategoryRef) -> Option<&Category> {
        let idx = match r {
            CategoryRef::Id(id) => self.by_id.get(id),
            CategoryRef::Slug(s) => self.by_slug.get(s.as_str()),
        }?;
        self.rows.get(*idx).map(|r| &r.category)
    }

    pub fn by_key(&self, key: i64) -> Option<&Category> {
        self.by_key
            .get(&key)
            .and_then(|i| self.rows.get(*i))
            .map(|r| &r.category)
    }

    pub fn tree(&self) -> &[CategoryNode] {
        &self.roots
    }

    pub fn rows(&self) -> &[CategoryRow] {
        &self.rows
    }
}

fn build_tree(rows: &[CategoryRow]) -> Vec<CategoryNode> {
    let mut children: HashMap<Option<i64>, Vec<&CategoryRow>> = HashMap::new();
    for r in rows {
        children.entry(r.parent_key).or_default().push(r);
    }
    fn nodes(
        parent: Option<i64>,
        children: &HashMap<Option<i64>, Vec<&CategoryRow>>,
    ) -> Vec<CategoryNode> {
        let mut out: Vec<CategoryNode> = children
            .get(&parent)
            .map(|rows| {
                rows.iter()
                    .map(|r| CategoryNode {
                        id: r.category.id,
                        slug: r.category.slug.clone(),
                        name: r.category.name.clone(),
                        path: r.category.path.clone(),
                        product_count: r.product_count,
                        children: nodes(Some(r.category.key), children),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| {
            b.product_count
                .cmp(&a.product_count)
                .then(a.name.cmp(&b.name))
        });
        out
    }
    nodes(None, &children)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::CategorySlug;

    fn row(key: i64, parent: Option<i64>, path: &[&str], count: u64) -> CategoryRow {
        CategoryRow {
            category: Category {
                id: Uuid::now_v7(),
                slug: CategorySlug::from_path(path),
                name: path.last().unwrap().to_string(),
                path: path.iter().map(|s| s.to_string()).collect(),
                key,
            },
            parent_key: parent,
            product_count: count,
        }
    }

    #[test]
    fn tree_nests_children_biggest_first() {
        let idx = CategoryIndex::new(
            1,
            vec![
                row(1, None, &["Phones"], 10),
                row(2, Some(1), &["Phones", "Cases"], 3),
                row(3, Some(1), &["Phones", "Smartphones"], 7),
                row(4, None, &["Watches"], 20),
            ],
        );
        let t = idx.tree();
        assert_eq!(
            t.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            ["Watches", "Phones"]
        );
        assert_eq!(t[1].children[0].name, "Smartphones");
        let slug = CategoryRef::parse("phones/cases").unwrap();
        assert_eq!(idx.resolve(&slug).map(|c| c.key), Some(2));
    }
}
