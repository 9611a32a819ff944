package extract

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// pdfBomb is a one-page PDF whose deflated content stream inflates to about
// inflated bytes of operands without an operator ("0 0 0 …"): the shape
// that drove the crawler to 3.8 GB RSS.
func pdfBomb(t testing.TB, inflated int) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	chunk := bytes.Repeat([]byte("0 "), 1<<19)
	for n := 0; n < inflated; n += len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	var offsets []int
	obj := func(format string, args ...any) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n", len(offsets))
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\nendobj\n")
	}
	b.WriteString("%PDF-1.4\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>")
	obj("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", z.Len(), z.Bytes())
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

// xlsxBomb is a workbook whose shared string table holds n one-letter
// strings (6 M of them stay under the 128 MiB decompression cap).
func xlsxBomb(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name, content string) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	add("[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>`)
	add("_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	add("xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	add("xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`)
	add("xl/worksheets/sheet1.xml", `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>`)
	w, err := zw.Create("xl/sharedStrings.xml")
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, n, n)
	for range n {
		_, _ = bw.WriteString("<si><t>a</t></si>")
	}
	_, _ = bw.WriteString("</sst>") // errors surface at Flush
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAttachment_PDFContentStreamBombStopsAtTheCap(t *testing.T) {
	bomb := pdfBomb(t, 2*PDFMaxPageStream)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Attachment(context.Background(), bytes.NewReader(bomb), "bomb.pdf", "application/pdf", 0)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("allocated %d MiB for a %d KB file", alloc>>20, len(bomb)>>10)
	}
}

func TestAttachment_XLSXSharedStringBombStopsAtTheCap(t *testing.T) {
	bomb := xlsxBomb(t, XLSXMaxSharedStrings+1)
	_, err := Attachment(context.Background(), bytes.NewReader(bomb), "bomb.xlsx", "", 0)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !strings.Contains(tl.What, "shared strings") {
		t.Fatalf("err = %v, want the shared string cap", err)
	}
	// A workbook under the caps still reads.
	if text, err := Attachment(context.Background(), bytes.NewReader(xlsxBomb(t, 1000)), "ok.xlsx", "", 0); err != nil || !strings.Contains(text, "a") {
		t.Fatalf("a small workbook: %q, %v", text, err)
	}
}

// BenchmarkAttachmentBombPeakRSS extracts the two bombs of issue 13 at their
// reported sizes (a PDF whose content stream inflates to 512 MiB, a
// workbook with 6 M shared strings) and reports the process's peak RSS. Run
// it alone, so the peak is the extraction's:
//
//	go test ./crawler/extract -run '^$' -bench AttachmentBombPeakRSS -benchtime 1x
func BenchmarkAttachmentBombPeakRSS(b *testing.B) {
	pdf := pdfBomb(b, 512<<20)
	xlsx := xlsxBomb(b, 6_000_000)
	b.Logf("pdf bomb %d KB, xlsx bomb %d KB", len(pdf)>>10, len(xlsx)>>10)
	b.ResetTimer()
	for range b.N {
		if _, err := Attachment(context.Background(), bytes.NewReader(pdf), "bomb.pdf", "application/pdf", 0); !errors.Is(err, ErrTooLarge) {
			b.Fatalf("pdf: %v", err)
		}
		if _, err := Attachment(context.Background(), bytes.NewReader(xlsx), "bomb.xlsx", "", 0); !errors.Is(err, ErrTooLarge) {
			b.Fatalf("xlsx: %v", err)
		}
	}
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
}

// peakRSS is the process's VmHWM (Linux).
func peakRSS(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
