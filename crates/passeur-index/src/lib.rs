//! The vector index of offers on LanceDB.
