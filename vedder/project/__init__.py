"""The project model: clusters with their datasets, pairs and docs, loaded from disk."""

from vedder.project.model import BrokenCluster, Cluster, Column, Dataset, Doc, Owners, Pair, Project, Proposal, load_project

__all__ = ["BrokenCluster", "Cluster", "Column", "Dataset", "Doc", "Owners", "Pair", "Project", "Proposal", "load_project"]
