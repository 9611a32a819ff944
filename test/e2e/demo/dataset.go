package main

import (
	"github.com/confluence-operator/confluence-operator/test/demodata"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// populate fills the fake Confluence with the demo wiki (see demodata.Populate).
func populate(f *fakeconfluence.Server) demodata.Site { return demodata.Populate(f) }
