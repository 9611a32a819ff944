package main

import (
	"fmt"

	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

// site is the demo's Confluence: who works there and what they may read.
type site struct {
	crawler, alice, bob fakeconfluence.User
	spaces, pages       int
}

// populate fills a fake Confluence Cloud with a small company wiki:
//
//	COMP  Company handbook   everyone (and anonymous readers)
//	ENG   Engineering        all staff; one postmortem restricted to the engineering group
//	HR    People             the hr group only
//
// alice is in engineering, bob in hr; both read "payments" pages, but each
// sees something the other does not.
func populate(f *fakeconfluence.Server) site {
	var s site
	s.crawler = f.AddUser(fakeconfluence.User{Username: "crawler", Email: "crawler@example.com", DisplayName: "Search Crawler",
		Secret: "crawler-api-token", Admin: true, App: true})
	s.alice = f.AddUser(fakeconfluence.User{Username: "alice", Email: "alice@example.com", DisplayName: "Alice (Engineering)", Secret: "alice-token"})
	s.bob = f.AddUser(fakeconfluence.User{Username: "bob", Email: "bob@example.com", DisplayName: "Bob (HR)", Secret: "bob-token"})
	f.AddGroup("confluence-users", s.crawler.ID, s.alice.ID, s.bob.ID)
	f.AddGroup("engineering", s.alice.ID)
	f.AddGroup("hr", s.bob.ID)

	f.AddSpace(fakeconfluence.Space{Key: "COMP", Name: "Company handbook", ViewGroups: []string{"confluence-users"}, Anonymous: true})
	f.AddSpace(fakeconfluence.Space{Key: "ENG", Name: "Engineering", ViewGroups: []string{"confluence-users"}})
	f.AddSpace(fakeconfluence.Space{Key: "HR", Name: "People", ViewGroups: []string{"hr"}, ViewUsers: []string{s.crawler.ID}})
	s.spaces = 3

	page := func(space, parent, title, text string, readUsers, readGroups []string) fakeconfluence.Content {
		s.pages++
		return f.AddContent(fakeconfluence.Content{Type: "page", SpaceKey: space, ParentID: parent, Title: title,
			Body:   fmt.Sprintf("<h1>%s</h1><p>%s</p>", title, text),
			Author: s.crawler.ID, ReadUsers: readUsers, ReadGroups: readGroups})
	}
	// Restricted pages name the crawler too, as a real crawler account needs.
	restrictedTo := func(group string) ([]string, []string) { return []string{s.crawler.ID}, []string{group} }

	page("COMP", "", "Welcome to Example Corp", "Where things are and how we work. Questions about payments go to finance.", nil, nil)
	page("COMP", "", "Travel and expenses", "Book travel early. Reimbursement payments are made monthly.", nil, nil)

	arch := page("ENG", "", "Payments service architecture", "The payments service accepts card payments and talks to the gateway.", nil, nil)
	page("ENG", arch.ID, "Payments runbook", "How to restart the payments workers and drain the queue.", nil, nil)
	users, groups := restrictedTo("engineering")
	pm := page("ENG", arch.ID, "Postmortem: payments outage on 3 November",
		"Card payments failed for 42 minutes. Customers were not charged twice.", users, groups)
	f.AddComment(fakeconfluence.Comment{ContainerID: pm.ID, Author: s.alice.ID,
		Body: "<p>Root cause: an expired TLS certificate on the payments gateway.</p>"})
	page("ENG", "", "Onboarding for engineers", "Laptop, accounts, your first deploy.", nil, nil)
	s.pages++
	f.AddContent(fakeconfluence.Content{Type: "blogpost", SpaceKey: "ENG", Title: "Payments v2 is live",
		Body: "<p>Faster payments with retries and idempotency keys.</p>", Author: s.alice.ID})

	page("HR", "", "Salary bands 2026", "Bands per level and location.", nil, nil)
	payroll := page("HR", "", "Payroll payments calendar", "Salary payments run on the 25th of each month.", nil, nil)
	f.AddAttachment(fakeconfluence.Attachment{ContainerID: payroll.ID, FileName: "payments-calendar.csv", MediaType: "text/csv",
		Data: []byte("month,payment date\nJanuary,2026-01-23\nFebruary,2026-02-25\n"), Author: s.bob.ID})
	page("HR", "", "Reorganisation plan (confidential)", "Draft, do not share.", []string{s.crawler.ID, s.bob.ID}, nil)
	return s
}
