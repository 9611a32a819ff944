package main

import (
	"context"
	"fmt"
	"io"
)

func runCrawl(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "crawl: not implemented yet")
	return 2
}

func runSearch(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "search: not implemented yet")
	return 2
}
