"""Knowledge base: document loading, chunking, embeddings and retrieval for tenant knowledge."""
