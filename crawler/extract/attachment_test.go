package extract

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// zipOf builds a zip archive with the given name/content pairs, in order.
func zipOf(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		f, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(f, files[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const wordNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"`

func docxOf(t testing.TB, body string) []byte {
	return zipOf(t,
		"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
		"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document `+wordNS+`><w:body>`+body+`</w:body></w:document>`,
	)
}

func testDOCX(t testing.TB) []byte {
	return docxOf(t, `<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Quarterly</w:t></w:r><w:r><w:t xml:space="preserve"> report</w:t></w:r></w:p>`+
		`<w:p><w:r><w:t>Rev</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>enue</w:t></w:r><w:r><w:tab/><w:t>grew &amp; costs &lt; plan</w:t></w:r><w:r><w:br/><w:t>Second line</w:t></w:r></w:p>`+
		`<w:p><w:r><w:delText>deleted text</w:delText><w:instrText>PAGE</w:instrText></w:r></w:p>`+
		`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Region</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Sales</w:t></w:r></w:p></w:tc></w:tr>`+
		`<w:tr><w:tc><w:p><w:r><w:t>EMEA</w:t></w:r></w:p><w:p><w:r><w:t>(incl. UK)</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>1 200 €</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`+
		`<w:p><w:r><w:t>Ende — 終わり</w:t></w:r></w:p>`)
}

const wantDOCX = "Quarterly report\nRevenue grew & costs < plan\nSecond line\nRegion | Sales\nEMEA (incl. UK) | 1 200 €\nEnde — 終わり"

func slideXML(texts ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><p:sld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cSld><p:spTree>`)
	for _, s := range texts {
		fmt.Fprintf(&b, `<p:sp><p:txBody><a:bodyPr/><a:p><a:r><a:rPr lang="en-US"/><a:t>%s</a:t></a:r></a:p></p:txBody></p:sp>`, s)
	}
	b.WriteString(`</p:spTree></p:cSld></p:sld>`)
	return b.String()
}

func testPPTX(t testing.TB) []byte {
	return zipOf(t,
		"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`,
		"ppt/presentation.xml", `<?xml version="1.0"?><p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>`,
		"ppt/slides/slide10.xml", slideXML("Tenth slide"),
		"ppt/slides/slide2.xml", slideXML("Second slide", "Bullet &amp; more"),
		"ppt/slides/slide1.xml", slideXML("Title slide"),
		"ppt/notesSlides/notesSlide1.xml", slideXML("Speaker notes"),
		"ppt/slides/_rels/slide1.xml.rels", `<Relationships/>`,
	)
}

const wantPPTX = "Title slide\nSecond slide\nBullet & more\nTenth slide\nSpeaker notes"

func testXLSX(t testing.TB) []byte {
	return zipOf(t,
		"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`,
		"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Budget" sheetId="1" r:id="rId1"/><sheet name="Notes" sheetId="2" r:id="rId2"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
		"xl/sharedStrings.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="4" uniqueCount="4"><si><t>Item</t></si><si><t>Cost</t></si><si><t>Servers</t></si><si><r><t>Lic</t></r><r><t>enses</t></r></si></sst>`,
		"xl/worksheets/sheet1.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>1200.5</v></c></row>
<row r="4"><c r="A4" t="s"><v>3</v></c><c r="C4" t="inlineStr"><is><t>inline € text</t></is></c></row>
</sheetData></worksheet>`,
		"xl/worksheets/sheet2.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Remember the milk</t></is></c></row></sheetData></worksheet>`,
	)
}

const wantXLSX = "Budget\nItem | Cost\nServers | 1200.5\nLicenses | inline € text\nNotes\nRemember the milk"

// pdfOf builds a PDF with one page per content stream, compressed when
// flate is set. Fonts are inherited from the page tree root.
func pdfOf(flate bool, pages ...string) []byte {
	var b bytes.Buffer
	var offsets []int
	obj := func(format string, args ...any) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n", len(offsets))
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\nendobj\n")
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	var kids []string
	for i := range pages {
		kids = append(kids, fmt.Sprintf("%d 0 R", 4+2*i))
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [%s] /Count %d /Resources << /Font << /F1 3 0 R >> >> >>", strings.Join(kids, " "), len(pages))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	for i, p := range pages {
		obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>", 5+2*i)
		if flate {
			var z bytes.Buffer
			zw := zlib.NewWriter(&z)
			_, _ = zw.Write([]byte(p))
			zw.Close()
			obj("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", z.Len(), z.Bytes())
		} else {
			obj("<< /Length %d >>\nstream\n%s\nendstream", len(p), p)
		}
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

func testPDF() []byte {
	return pdfOf(false,
		"BT /F1 18 Tf 72 720 Td (Incident report) Tj 0 -24 Td /F1 12 Tf [(Root)-250(cause:)] TJ ( disk full) Tj T* (caf\\351 \\(2024\\)) Tj ET",
		"BT /F1 12 Tf 72 720 Td (Page two) Tj ET",
	)
}

const wantPDF = "Incident report\nRoot cause: disk full\ncafé (2024)\nPage two"

func TestAttachmentFormats(t *testing.T) {
	tests := []struct {
		name, file, media string
		data              []byte
		want              string
	}{
		{"docx", "report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", testDOCX(t), wantDOCX},
		{"pptx", "deck.pptx", "", testPPTX(t), wantPPTX},
		{"xlsx", "budget.xlsx", "application/octet-stream", testXLSX(t), wantXLSX},
		{"pdf", "incident.pdf", "application/pdf", testPDF(), wantPDF},
		{"pdf compressed", "x.pdf", "", pdfOf(true, "BT /F1 12 Tf 72 720 Td (Compressed stream) Tj ET"), "Compressed stream"},
		{"pdf 2.0 header", "x.pdf", "", append([]byte("%PDF-2.0"), pdfOf(false, "BT (v2) Tj ET")[8:]...), "v2"},
		{"docx by media type", "download", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", testDOCX(t), wantDOCX},
		{"docx sniffed", "blob", "application/octet-stream", testDOCX(t), wantDOCX},
		{"xlsx sniffed", "blob", "application/zip", testXLSX(t), wantXLSX},
		{"pdf sniffed", "blob", "", testPDF(), wantPDF},
		{"html", "page.html", "text/html", []byte(`<!DOCTYPE html><html><head><title>Doc title</title><style>p{}</style><script>var a = 1 < 2;</script></head><body><h1>Heading</h1><p>Body&nbsp;text <b>bold</b></p><table><tr><td>a</td><td>b</td></tr></table></body></html>`), "Doc title\nHeading\nBody text bold\na | b"},
		{"html latin1", "page.htm", "text/html; charset=iso-8859-1", []byte("<p>caf\xe9</p>"), "café"},
		{"html sniffed", "noext", "", []byte("<html><body><p>sniffed html</p></body></html>"), "sniffed html"},
		{"text", "notes.txt", "text/plain", []byte("first  line\r\n\r\n\tsecond line\n"), "first line\nsecond line"},
		{"text utf16 bom", "notes.txt", "", []byte("\xff\xfeh\x00i\x00\n\x00\xac\x20"), "hi\n€"},
		{"text utf8 bom", "notes.txt", "", []byte("\xef\xbb\xbfhello"), "hello"},
		{"markdown", "README.md", "text/markdown", []byte("# Title\n\nSome *markdown* text.\n\n- item\n"), "# Title\nSome *markdown* text.\n- item"},
		{"csv", "data.csv", "text/csv", []byte("name,city\n\"Doe, Jane\",\"Paris\"\n\"multi\nline\",x\nbad\"quote,y\n"), "name | city\nDoe, Jane | Paris\nmulti line | x\nbad\"quote | y"},
		{"tsv", "data.tsv", "", []byte("a\tb\n1\t2\n"), "a | b\n1 | 2"},
		{"json", "config.json", "application/json", []byte(`{"name":"search","tags":["fast","blue"],"replicas":3,"nested":{"enabled":true,"owner":"Team A"}}`), "name search\ntags fast blue\nreplicas 3\nnested\nenabled\nowner Team A"},
		{"json lines", "events.jsonl", "application/x-ndjson+json", []byte("{\"a\":\"x\"}\n{\"a\":\"y\"}\n"), "a x\na y"},
		{"invalid json falls back to text", "bad.json", "", []byte(`{"a": "unterminated`), `{"a": "unterminated`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Attachment(context.Background(), bytes.NewReader(tt.data), tt.file, tt.media, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// failReader fails the test if read.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("unsupported attachment was read")
	return 0, io.EOF
}

func TestAttachmentUnsupported(t *testing.T) {
	for _, c := range []struct{ file, media string }{
		{"photo.png", "image/png"},
		{"movie.mp4", "video/mp4"},
		{"legacy.doc", "application/msword"},
		{"archive.tar.gz", "application/gzip"},
	} {
		_, err := Attachment(context.Background(), failReader{t}, c.file, c.media, 1<<20)
		var ue *UnsupportedError
		if !errors.Is(err, ErrUnsupported) || !errors.As(err, &ue) || ue.MediaType != c.media {
			t.Errorf("%s: err = %v", c.file, err)
		}
	}
	// Sniffed binary and a zip that is not an Office file.
	for name, data := range map[string][]byte{
		"binary": {0x00, 0x01, 0x02, 0xff, 0xd8, 0xff},
		"zip":    zipOf(t, "a.txt", "hello"),
		"png":    []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
	} {
		_, err := Attachment(context.Background(), bytes.NewReader(data), "blob", "application/octet-stream", 1<<20)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", name, err)
		}
	}
}

func TestAttachmentTooLarge(t *testing.T) {
	text := bytes.Repeat([]byte("word "), 200) // 1000 bytes
	for _, c := range []struct {
		name, file string
		data       []byte
	}{
		{"text", "a.txt", text},
		{"csv", "a.csv", text},
		{"html", "a.html", text},
		{"pdf", "a.pdf", testPDF()},
		{"docx", "a.docx", testDOCX(t)},
		{"sniffed", "blob", text},
	} {
		limit := int64(len(c.data)) - 1
		got, err := Attachment(context.Background(), bytes.NewReader(c.data), c.file, "", limit)
		var tl *TooLargeError
		if !errors.Is(err, ErrTooLarge) || !errors.As(err, &tl) || tl.Limit != limit || got != "" {
			t.Errorf("%s: got %.20q, err %v; want TooLargeError", c.name, got, err)
		}
		// Exactly at the limit is fine.
		if _, err := Attachment(context.Background(), bytes.NewReader(c.data), c.file, "", limit+1); err != nil {
			t.Errorf("%s at limit: %v", c.name, err)
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestAttachmentReadsAtMostLimit(t *testing.T) {
	src := &countingReader{r: io.LimitReader(zeroReader{}, 1<<30)}
	_, err := Attachment(context.Background(), src, "big.pdf", "", 1<<20)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if src.n > 1<<20+1 {
		t.Errorf("read %d bytes, limit %d", src.n, 1<<20)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestAttachmentOutputBound(t *testing.T) {
	big := strings.Repeat("ünïcode wörds ", 100_000)
	var rows strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&rows, `<w:p><w:r><w:t>paragraph %d with ünïcode</w:t></w:r></w:p>`, i)
	}
	for name, c := range map[string]struct {
		file string
		data []byte
	}{
		"text": {"a.txt", []byte(big)},
		"html": {"a.html", []byte("<p>" + big + "</p>")},
		"csv":  {"a.csv", []byte(strings.ReplaceAll(big, " ", ",\n"))},
		"json": {"a.json", []byte(`["` + big + `"]`)},
		"docx": {"a.docx", docxOf(t, rows.String())},
	} {
		src := &countingReader{r: bytes.NewReader(c.data)}
		got, err := Attachment(context.Background(), src, c.file, "", 1<<30, WithMaxBytes(1001))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) > 1001 || len(got) < 900 || !utf8.ValidString(got) {
			t.Errorf("%s: len %d, valid %v", name, len(got), utf8.ValidString(got))
		}
		if name == "text" && src.n > 64<<10 {
			t.Errorf("text: read %d bytes for 1 KB of output; want early stop", src.n)
		}
	}
}

func TestAttachmentZipBomb(t *testing.T) {
	// 8 MB of paragraphs compresses to a few KB.
	body := strings.Repeat(`<w:p><w:r><w:t>aaaaaaaaaaaaaaaa</w:t></w:r></w:p>`, 8<<20/50)
	docx := docxOf(t, body)
	if len(docx) > 200<<10 {
		t.Fatalf("test docx not compressed enough: %d", len(docx))
	}
	_, err := Attachment(context.Background(), bytes.NewReader(docx), "bomb.docx", "", 1<<20, WithMaxDecompressed(1<<20))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("docx: err = %v, want ErrTooLarge", err)
	}

	sheet := `<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
		strings.Repeat(`<row><c t="inlineStr"><is><t>x</t></is></c></row>`, 8<<20/50) + `</sheetData></worksheet>`
	xlsx := zipOf(t, "xl/workbook.xml", `<workbook/>`, "xl/worksheets/sheet1.xml", sheet)
	_, err = Attachment(context.Background(), bytes.NewReader(xlsx), "bomb.xlsx", "", 1<<20, WithMaxDecompressed(1<<20))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("xlsx: err = %v, want ErrTooLarge", err)
	}
}

func TestAttachmentMalformed(t *testing.T) {
	for _, c := range []struct {
		name, file string
		data       []byte
	}{
		{"not a pdf", "x.pdf", []byte("hello, not a pdf")},
		{"truncated pdf", "x.pdf", testPDF()[:200]},
		{"not a zip", "x.docx", []byte("PK\x03\x04garbage")},
		{"docx without document", "x.docx", zipOf(t, "word/styles.xml", "<x/>")},
		{"not an xlsx", "x.xlsx", []byte("nope")},
	} {
		_, err := Attachment(context.Background(), bytes.NewReader(c.data), c.file, "", 1<<20)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", c.name, err)
		}
	}
	// Broken XML inside a part keeps the text before the break.
	got, err := Attachment(context.Background(), bytes.NewReader(docxOf(t, `<w:p><w:r><w:t>kept</w:t></w:r></w:p><w:p><w:t>x</w:q>`)), "x.docx", "", 1<<20)
	if err != nil || !strings.HasPrefix(got, "kept") {
		t.Errorf("broken docx xml: %q, %v", got, err)
	}
}

func TestAttachmentContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, file := range []string{"a.txt", "a.pdf", "a.docx"} {
		_, err := Attachment(ctx, strings.NewReader("data"), file, "", 1<<20)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v", file, err)
		}
	}
}

func TestGuardRecoversPanics(t *testing.T) {
	if debugNoRecover {
		t.Skip("recovery disabled")
	}
	err := guard(func() error { panic("third-party bug") })
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v", err)
	}
}

func TestDetect(t *testing.T) {
	for _, c := range []struct {
		file, media string
		kind        fileKind
		sniff       bool
	}{
		{"A.PDF", "", kindPDF, false},
		{"x", "application/pdf; name=x", kindPDF, false},
		{"x.bin", "TEXT/PLAIN; charset=utf-8", kindText, false},
		{"x", "application/vnd.api+json", kindJSON, false},
		{"x.unknown", "application/octet-stream", kindUnknown, true},
		{"x", "", kindUnknown, true},
		{"x.png", "image/png", kindUnknown, false},
	} {
		k, sniff := detect(c.file, c.media)
		if k != c.kind || sniff != c.sniff {
			t.Errorf("detect(%q, %q) = %v, %v; want %v, %v", c.file, c.media, k, sniff, c.kind, c.sniff)
		}
	}
}

// FuzzOfficeZip feeds arbitrary archives, and archives wrapping arbitrary
// XML as the main part, to the docx and pptx extractors.
func FuzzOfficeZip(f *testing.F) {
	f.Add(testDOCX(f))
	f.Add(testPPTX(f))
	f.Add([]byte("PK\x05\x06"))
	f.Add([]byte(`<w:p><w:r><w:t>a</w:t><w:tab/></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:t>b</w:t></w:p></w:tc><w:tc>`))
	f.Add([]byte(`<a:p><a:r><a:t>x &amp; y</a:t></a:r><a:br/></a:p><![CDATA[<a:t>]]><a:t>z`))
	debugNoRecover = true
	f.Cleanup(func() { debugNoRecover = false })
	f.Fuzz(func(t *testing.T, data []byte) {
		archive := data
		if !bytes.HasPrefix(data, []byte("PK")) {
			archive = zipOf(t, "word/document.xml", string(data), "ppt/slides/slide1.xml", string(data))
		}
		for _, name := range []string{"a.docx", "a.pptx"} {
			got, err := Attachment(context.Background(), bytes.NewReader(archive), name, "", 1<<20,
				WithMaxBytes(512), WithMaxDecompressed(4<<20))
			if len(got) > 512 || !utf8.ValidString(got) {
				t.Fatalf("%s: bad output len %d", name, len(got))
			}
			if err != nil && got != "" {
				t.Fatalf("%s: text with error %v", name, err)
			}
		}
	})
}
