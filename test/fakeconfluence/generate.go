package fakeconfluence

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// DatasetOptions size a generated data set; zero fields take the defaults shown.
type DatasetOptions struct {
	Seed               uint64 // 1
	Spaces             int    // global, current spaces: 2
	PersonalSpaces     int    // 1
	ArchivedSpaces     int    // 1
	PagesPerSpace      int    // 20
	BlogPostsPerSpace  int    // 3
	MaxDepth           int    // page tree depth: 4
	CommentsPerPage    int    // average: 1 (some are replies, some inline)
	AttachmentsPerPage int    // average: 1 (text, CSV, HTML, Markdown, JSON, binary, PDF, DOCX)
	Users              int    // besides the crawler: 8
	Groups             int    // besides confluence-users: 3
	BodyBytes          int    // approximate storage body size: 600
	TrashedPerSpace    int    // 1
	RestrictedEvery    int    // every n-th page/blog post has a read restriction: 5
	// NoAccessUsers are users in no group and named by no permission: they
	// see what an anonymous reader sees. 0 by default.
	NoAccessUsers int
	// CloudHierarchy adds, on Cloud, what Cloud has and Data Center has not:
	// in every current global space restricted and open folders (nested), a
	// restricted whiteboard with pages below them, pages below a restricted
	// draft of another user and below a restricted trashed page; and a guest
	// granted one space and some pages directly.
	CloudHierarchy bool
}

func (o *DatasetOptions) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	def(&o.Spaces, 2)
	def(&o.PersonalSpaces, 1)
	def(&o.ArchivedSpaces, 1)
	def(&o.PagesPerSpace, 20)
	def(&o.BlogPostsPerSpace, 3)
	def(&o.MaxDepth, 4)
	def(&o.CommentsPerPage, 1)
	def(&o.AttachmentsPerPage, 1)
	def(&o.Users, 8)
	def(&o.Groups, 3)
	def(&o.BodyBytes, 600)
	def(&o.TrashedPerSpace, 1)
	def(&o.RestrictedEvery, 5)
}

// Dataset summarises what Generate created.
type Dataset struct {
	// Crawler is an admin user with Basic credentials (Cloud: Email +
	// Secret; DC: Username + Secret) and, on DC, a PAT.
	Crawler     User
	Users       []User
	Groups      []Group
	Spaces      []Space
	Pages       int // current pages, all spaces
	BlogPosts   int
	Trashed     int
	Comments    int
	Attachments int
}

// Epoch is the creation time of generated content (modification times follow it).
var Epoch = time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)

var titleWords = []string{
	"Architecture", "Runbook", "Onboarding", "Roadmap", "Überblick", "Café ☕ notes", "日本語のページ",
	"Ελληνικά", "Retrospective", "Incident 🚒", "Design", "FAQ", "Glossary", "Zürich office", "Migration",
}

var labelWords = []string{"howto", "draft", "architecture", "security", "team-a", "ops", "faq"}

// Generate fills the server with a deterministic data set: the same options
// (and seed) give the same ids, titles, bodies, bytes and times on a fresh
// server. It returns the crawl identity and a summary.
func (s *Server) Generate(o DatasetOptions) Dataset {
	o.defaults()
	rng := rand.New(rand.NewPCG(o.Seed, 42))
	dc := s.opts.Deployment == DataCenter
	var ds Dataset
	ds.Crawler = s.AddUser(User{
		Username: "crawler", Email: "crawler@example.com", DisplayName: "Crawler Bot",
		Secret: "crawler-api-token-s3cr3t", Admin: true,
	})
	if dc {
		ds.Crawler = s.setPAT(ds.Crawler.ID, "crawler-pat-s3cr3t")
	}
	ds.Users = append(ds.Users, ds.Crawler)
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy"}
	for i := range o.Users {
		n := names[i%len(names)]
		if i >= len(names) {
			n = fmt.Sprintf("%s%d", n, i/len(names))
		}
		u := s.AddUser(User{Username: n, Email: n + "@example.com", DisplayName: strings.ToUpper(n[:1]) + n[1:] + " Example", Secret: n + "-secret"})
		ds.Users = append(ds.Users, u)
	}
	userIDs := make([]string, len(ds.Users))
	for i, u := range ds.Users {
		userIDs[i] = u.ID
	}
	ds.Groups = append(ds.Groups, s.AddGroup("confluence-users", userIDs...))
	gnames := []string{"engineering", "hr", "finance", "support", "legal", "sales"}
	for i := range o.Groups {
		n := gnames[i%len(gnames)]
		if i >= len(gnames) {
			n = fmt.Sprintf("%s-%d", n, i/len(gnames))
		}
		var members []string
		for _, id := range userIDs[1:] {
			if rng.IntN(3) == 0 {
				members = append(members, id)
			}
		}
		ds.Groups = append(ds.Groups, s.AddGroup(n, members...))
	}
	pickUsers := func(n int) []string {
		var out []string
		for range n {
			out = append(out, userIDs[1+rng.IntN(len(userIDs)-1)])
		}
		return dedupe(append(out, ds.Crawler.ID))
	}
	pickGroup := func() string { return ds.Groups[1+rng.IntN(len(ds.Groups)-1)].Name }

	clock := Epoch
	tick := func() time.Time {
		clock = clock.Add(time.Duration(1+rng.IntN(90)) * time.Minute)
		return clock
	}
	var spaces []Space
	for i := range o.Spaces {
		sp := Space{Key: fmt.Sprintf("S%d", i+1), Name: fmt.Sprintf("Space %d %s", i+1, titleWords[i%len(titleWords)]),
			ViewGroups: []string{"confluence-users"}, ViewUsers: []string{userIDs[1+i%(len(userIDs)-1)]}, Anonymous: i == 0}
		if i%2 == 1 {
			sp.ViewGroups = []string{pickGroup()}
			sp.ViewUsers = pickUsers(1)
		}
		spaces = append(spaces, s.AddSpace(sp))
	}
	for i := range o.PersonalSpaces {
		u := ds.Users[1+i%(len(ds.Users)-1)]
		spaces = append(spaces, s.AddSpace(Space{Key: "~" + u.Username, Name: u.DisplayName, Type: "personal", ViewUsers: []string{u.ID, ds.Crawler.ID}}))
	}
	for i := range o.ArchivedSpaces {
		spaces = append(spaces, s.AddSpace(Space{Key: fmt.Sprintf("ARCH%d", i+1), Name: fmt.Sprintf("Archive %d", i+1), Status: "archived", ViewGroups: []string{"confluence-users"}}))
	}
	ds.Spaces = spaces

	n := 0
	for _, sp := range spaces {
		type node struct {
			id    string
			depth int
		}
		var nodes []node
		for i := range o.PagesPerSpace + o.TrashedPerSpace {
			parent, depth := "", 0
			if len(nodes) > 0 && rng.IntN(4) != 0 {
				p := nodes[rng.IntN(len(nodes))]
				if p.depth+1 < o.MaxDepth {
					parent, depth = p.id, p.depth+1
				}
			}
			n++
			created := tick()
			c := Content{
				Type: "page", SpaceKey: sp.Key, ParentID: parent,
				Title:  fmt.Sprintf("%s %d", titleWords[rng.IntN(len(titleWords))], n),
				Body:   s.genBody(rng, o.BodyBytes, userIDs),
				Labels: pickLabels(rng), Author: userIDs[rng.IntN(len(userIDs))], Created: created, Modified: created,
			}
			if n%o.RestrictedEvery == 0 {
				c.ReadUsers, c.ReadGroups = pickUsers(1+rng.IntN(2)), []string{pickGroup()}
			}
			if v := rng.IntN(4); v > 0 { // some edits
				c.Version, c.Modified, c.Editor = 1+v, created.Add(time.Duration(v)*time.Hour), userIDs[rng.IntN(len(userIDs))]
			}
			trashed := i >= o.PagesPerSpace
			if trashed {
				c.Status, c.ParentID = "trashed", ""
			}
			c = s.AddContent(c)
			if trashed {
				ds.Trashed++
				continue
			}
			ds.Pages++
			nodes = append(nodes, node{c.ID, depth})
			ds.Comments += s.genComments(rng, c.ID, o.CommentsPerPage, userIDs, tick)
			ds.Attachments += s.genAttachments(rng, c.ID, o.AttachmentsPerPage, userIDs, tick, n)
		}
		for range o.BlogPostsPerSpace {
			n++
			created := tick()
			c := Content{Type: "blogpost", SpaceKey: sp.Key, Title: fmt.Sprintf("News %d: %s", n, titleWords[rng.IntN(len(titleWords))]),
				Body: s.genBody(rng, o.BodyBytes, userIDs), Labels: pickLabels(rng), Author: userIDs[rng.IntN(len(userIDs))],
				Created: created, Modified: created}
			if n%o.RestrictedEvery == 0 {
				c.ReadGroups = []string{pickGroup()}
			}
			c = s.AddContent(c)
			ds.BlogPosts++
			ds.Comments += s.genComments(rng, c.ID, o.CommentsPerPage, userIDs, tick)
			ds.Attachments += s.genAttachments(rng, c.ID, o.AttachmentsPerPage, userIDs, tick, n)
		}
	}
	if o.CloudHierarchy && !dc {
		s.genCloudHierarchy(rng, &ds, spaces, pickUsers, pickGroup, tick)
	}
	// Added last, so they change nothing else of a seeded data set (and
	// stay the last users).
	for i := range o.NoAccessUsers {
		n := fmt.Sprintf("outsider%d", i+1)
		ds.Users = append(ds.Users, s.AddUser(User{Username: n, Email: n + "@example.com", DisplayName: fmt.Sprintf("Outsider %d", i+1), Secret: n + "-secret"}))
	}
	return ds
}

// genCloudHierarchy adds the Cloud-only tree and guest (see CloudHierarchy).
func (s *Server) genCloudHierarchy(rng *rand.Rand, ds *Dataset, spaces []Space, pickUsers func(int) []string, pickGroup func() string, tick func() time.Time) {
	guest := s.AddUser(User{Username: "gwen", Email: "gwen@partner.example", DisplayName: "Gwen Guest", Secret: "gwen-secret", Guest: true})
	ds.Users = append(ds.Users, guest)
	author := ds.Users[1].ID // owns the draft; the crawler cannot read it
	for i, sp := range spaces {
		if sp.Type != "global" || sp.Status != "current" {
			continue
		}
		add := func(typ, parent, title string, users, groups []string, status string) string {
			created := tick()
			c := s.AddContent(Content{Type: typ, SpaceKey: sp.Key, ParentID: parent, Title: title, Status: status,
				Body: "<p>" + title + "</p>", Author: author, Created: created, Modified: created, ReadUsers: users, ReadGroups: groups})
			if typ == "page" && status == "" {
				ds.Pages++
			}
			return c.ID
		}
		restricted := add("folder", "", sp.Key+" restricted folder", pickUsers(1), []string{pickGroup()}, "")
		add("page", restricted, sp.Key+" page in restricted folder", nil, nil, "")
		sub := add("folder", restricted, sp.Key+" open folder in restricted folder", nil, nil, "")
		add("page", sub, sp.Key+" page two folders down", nil, nil, "")
		open := add("folder", "", sp.Key+" open folder", nil, nil, "")
		p := add("page", open, sp.Key+" page in open folder", nil, nil, "")
		add("page", p, sp.Key+" child of page in open folder", pickUsers(1+rng.IntN(2)), nil, "")
		wb := add("whiteboard", open, sp.Key+" restricted whiteboard", pickUsers(1), nil, "")
		add("page", wb, sp.Key+" page below whiteboard", nil, nil, "")
		draft := add("page", "", sp.Key+" draft of another user", []string{author}, nil, "draft")
		add("page", draft, sp.Key+" page below a draft", nil, nil, "")
		trashed := add("page", "", sp.Key+" trashed parent", []string{author}, nil, "trashed")
		ds.Trashed++
		add("page", trashed, sp.Key+" page below a trashed page", nil, nil, "")
		if i == 0 {
			s.mutate(func(st *store) { st.spaces[sp.Key].ViewUsers = append(st.spaces[sp.Key].ViewUsers, guest.ID) })
			add("page", open, sp.Key+" shared with the guest", []string{guest.ID, ds.Crawler.ID}, nil, "")
			add("page", restricted, sp.Key+" guest below restricted folder", []string{guest.ID, ds.Crawler.ID}, nil, "")
		}
	}
}

func (s *Server) setPAT(id, pat string) User {
	var u User
	s.mutate(func(st *store) {
		st.users[id].PAT = pat
		u = *st.users[id]
	})
	return u
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func pickLabels(rng *rand.Rand) []string {
	var out []string
	for range rng.IntN(3) {
		out = append(out, labelWords[rng.IntN(len(labelWords))])
	}
	return dedupe(out)
}

const lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "

func (s *Server) genBody(rng *rand.Rand, size int, users []string) string {
	var b strings.Builder
	mention := fmt.Sprintf(`<ri:user ri:account-id="%s"/>`, users[rng.IntN(len(users))])
	if s.opts.Deployment == DataCenter {
		mention = fmt.Sprintf(`<ri:user ri:userkey="%s"/>`, users[rng.IntN(len(users))])
	}
	fmt.Fprintf(&b, `<h1>%s</h1><p>Owner: <ac:link>%s</ac:link> &amp; team &mdash; see <ac:link><ri:page ri:content-title="%s"/></ac:link>.</p>`,
		titleWords[rng.IntN(len(titleWords))], mention, titleWords[rng.IntN(len(titleWords))])
	b.WriteString(`<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">go</ac:parameter><ac:plain-text-body><![CDATA[if a > b && b < c { return }]]></ac:plain-text-body></ac:structured-macro>`)
	b.WriteString(`<ac:structured-macro ac:name="info"><ac:rich-text-body><p>Tip: keep it short.</p></ac:rich-text-body></ac:structured-macro>`)
	for b.Len() < size {
		fmt.Fprintf(&b, "<h2>Section %d</h2><p>%s</p>", rng.IntN(100), lorem)
	}
	return b.String()
}

func (s *Server) genComments(rng *rand.Rand, container string, avg int, users []string, tick func() time.Time) int {
	k := rng.IntN(2*avg + 1)
	var made []Comment
	for i := range k {
		c := Comment{ContainerID: container, Author: users[rng.IntN(len(users))], Created: tick(),
			Body: fmt.Sprintf("<p>Comment %d: %s</p>", i, lorem[:40+rng.IntN(60)])}
		c.Modified = c.Created
		if rng.IntN(4) == 0 {
			c.Location = "inline"
		}
		if len(made) > 0 && rng.IntN(3) == 0 { // reply, possibly nested
			p := made[rng.IntN(len(made))]
			c.ParentID, c.Location = p.ID, p.Location
		}
		made = append(made, s.AddComment(c))
	}
	return k
}

func (s *Server) genAttachments(rng *rand.Rand, container string, avg int, users []string, tick func() time.Time, n int) int {
	k := rng.IntN(2*avg + 1)
	for i := range k {
		name, mt, data := sampleFile((n+i)%len(sampleKinds), rng, n)
		created := tick()
		s.AddAttachment(Attachment{ContainerID: container, FileName: fmt.Sprintf("%d-%s", i, name), MediaType: mt, Data: data,
			Author: users[rng.IntN(len(users))], Created: created, Modified: created, Comment: "generated"})
	}
	return k
}

var sampleKinds = []string{"txt", "csv", "html", "md", "json", "bin", "pdf", "docx"}

// sampleFile returns a small, valid file of the kind-th type.
func sampleFile(kind int, rng *rand.Rand, n int) (name, mediaType string, data []byte) {
	text := fmt.Sprintf("Generated document %d. Äpfel, Birnen und Zitronen: %d.", n, rng.IntN(1000))
	switch sampleKinds[kind] {
	case "txt":
		return "notes.txt", "text/plain", []byte(text + "\n")
	case "csv":
		return "data.csv", "text/csv", []byte(fmt.Sprintf("id,name,value\n1,alpha,%d\n2,beta,%d\n", rng.IntN(100), rng.IntN(100)))
	case "html":
		return "page.html", "text/html", []byte("<!DOCTYPE html><html><head><title>Doc</title></head><body><h1>Doc</h1><p>" + text + "</p></body></html>")
	case "md":
		return "README.md", "text/markdown", []byte("# Readme\n\n" + text + "\n\n- one\n- two\n")
	case "json":
		return "config.json", "application/json", []byte(fmt.Sprintf(`{"id":%d,"text":%q}`, n, text))
	case "bin":
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return "blob.bin", "application/octet-stream", b
	case "pdf":
		return "report.pdf", "application/pdf", minimalPDF(text)
	default:
		return "letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", minimalDOCX(text)
	}
}

// minimalPDF builds a one-page PDF with a correct cross-reference table.
func minimalPDF(text string) []byte {
	ascii := strings.Map(func(r rune) rune {
		if r > 126 || r == '(' || r == ')' || r == '\\' {
			return '?'
		}
		return r
	}, text)
	stream := fmt.Sprintf("BT /F1 12 Tf 72 720 Td (%s) Tj ET", ascii)
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// minimalDOCX builds a minimal WordprocessingML package with fixed timestamps.
func minimalDOCX(text string) []byte {
	files := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>` + xmlEscape(text) + `</w:t></w:r></w:p></w:body></w:document>`},
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: Epoch})
		if err != nil {
			panic(err)
		}
		_, _ = w.Write([]byte(f.body))
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
