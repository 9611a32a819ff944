package crawl

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// patternSet is a compiled include/exclude pair: an item passes when it
// matches an include pattern (or there are none) and no exclude pattern.
// Exclude wins.
type patternSet struct {
	include, exclude []*regexp.Regexp
}

func compilePatterns(field string, f v1.PatternFilter) (patternSet, error) {
	var ps patternSet
	for i, r := range f.Include {
		re, err := regexp.Compile(string(r))
		if err != nil {
			return ps, fmt.Errorf("%s.include[%d]: %w", field, i, err)
		}
		ps.include = append(ps.include, re)
	}
	for i, r := range f.Exclude {
		re, err := regexp.Compile(string(r))
		if err != nil {
			return ps, fmt.Errorf("%s.exclude[%d]: %w", field, i, err)
		}
		ps.exclude = append(ps.exclude, re)
	}
	return ps, nil
}

// allows reports whether s passes, and if not, the reason.
func (ps patternSet) allows(s string) (bool, string) {
	for _, re := range ps.exclude {
		if re.MatchString(s) {
			return false, "matches exclude pattern " + re.String()
		}
	}
	if len(ps.include) == 0 {
		return true, ""
	}
	for _, re := range ps.include {
		if re.MatchString(s) {
			return true, ""
		}
	}
	return false, "matches no include pattern"
}

// filters is the compiled spec.filters.
type filters struct {
	spaces, urls, attachmentTypes                       patternSet
	pageTitles, blogTitles, commentTitles, attachTitles patternSet
	maxAttachmentSize                                   int64
}

func compileFilters(spec v1.FilterSpec) (*filters, error) {
	f := &filters{maxAttachmentSize: 50 << 20}
	if spec.MaxAttachmentSize != nil {
		f.maxAttachmentSize = spec.MaxAttachmentSize.Value()
	}
	for _, c := range []struct {
		field string
		in    v1.PatternFilter
		out   *patternSet
	}{
		{"spec.filters.spaces", spec.Spaces, &f.spaces},
		{"spec.filters.urls", spec.URLs, &f.urls},
		{"spec.filters.attachmentTypes", spec.AttachmentTypes, &f.attachmentTypes},
		{"spec.filters.titles.pages", spec.Titles.Pages, &f.pageTitles},
		{"spec.filters.titles.blogPosts", spec.Titles.BlogPosts, &f.blogTitles},
		{"spec.filters.titles.comments", spec.Titles.Comments, &f.commentTitles},
		{"spec.filters.titles.attachments", spec.Titles.Attachments, &f.attachTitles},
	} {
		ps, err := compilePatterns(c.field, c.in)
		if err != nil {
			return nil, err
		}
		*c.out = ps
	}
	return f, nil
}

// fileExtension is the lower-case extension without the dot, as matched by
// spec.filters.attachmentTypes.
func fileExtension(name string) string {
	return strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
}
