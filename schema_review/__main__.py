from schema_review.cli import main

main()
