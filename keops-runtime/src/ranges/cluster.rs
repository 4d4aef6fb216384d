//! Clustering helpers: points sorted into grid cells, the cells' centroids and radii, and the
//! ranges of the cluster pairs within a cut-off distance.
