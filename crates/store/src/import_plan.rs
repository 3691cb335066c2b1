//! What an import must create before it writes products: every category
//! path (and each of its ancestors) that the drafts name, parents first.

use std::collections::BTreeMap;

use emporium_domain::catalog::model::CategorySlug;
use emporium_domain::catalog::ProductDraft;

/// One category an import needs, identified by its slug.
#[derive(Debug, Clone)]
pub(crate) struct PlannedCategory {
    pub slug: String,
    pub parent_slug: Option<String>,
    pub name: String,
    pub path: Vec<String>,
}

/// All categories the drafts need, ordered so that parents come first.
pub(crate) fn categories(drafts: &[ProductDraft]) -> Vec<PlannedCategory> {
    let mut planned: BTreeMap<(usize, String), PlannedCategory> = BTreeMap::new();
    for d in drafts {
        for depth in 1..=d.category.len() {
            let path = &d.category[..depth];
            let slug = CategorySlug::from_path(path).as_str().to_owned();
            planned
                .entry((depth, slug.clone()))
                .or_insert_with(|| PlannedCategory {
                    parent_slug: (depth > 1).then(|| {
                        CategorySlug::from_path(&path[..depth - 1])
                            .as_str()
                            .to_owned()
                    }),
                    name: path[depth - 1].clone(),
                    path: path.to_vec(),
                    slug,
                });
        }
    }
    planned.into_values().collect()
}

/// The slug of a draft's own category.
pub(crate) fn slug_of(d: &ProductDraft) -> String {
    CategorySlug::from_path(&d.category).as_str().to_owned()
}

/// The text indexed for a product's category: all names on its path.
pub(crate) fn category_text(d: &ProductDraft) -> String {
    d.category.join(" > ")
}
