"""Early warning: rules over the index raise and resolve alerts (`rules`, `evaluator`), evaluated as
the index advances (`hook`) and as time passes (`scheduler`); alert policies (`policy`)."""
