"""Everything panoptui does without a screen: the store, the import, vector sets and the queries on
them. The CLI and the terminal app are two faces on these modules; none of them imports Textual."""
