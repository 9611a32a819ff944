package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Office Open XML files are zip archives of XML parts. Spreadsheets are read
// with excelize (shared strings, inline strings and number formats make
// cell values non-trivial). For documents and presentations there is no
// well-kept, permissively licensed Go reader, and the text is simply the
// <w:t>/<a:t> runs of a few parts, so they are read here over archive/zip and
// encoding/xml.

// zipBudget caps the bytes decompressed from one archive. archive/zip fails
// a read past an entry's declared size, so checking declared sizes is enough.
type zipBudget struct {
	left, limit int64
}

func (b *zipBudget) open(f *zip.File) (io.ReadCloser, error) {
	size := int64(f.UncompressedSize64)
	if size < 0 || size > b.left {
		return nil, &TooLargeError{What: "decompressed", Limit: b.limit}
	}
	b.left -= size
	return f.Open()
}

func openZip(data []byte) (*zip.Reader, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, malformed("zip: %v", err)
	}
	return zr, nil
}

// sniffOOXML tells a docx, pptx or xlsx archive by its main part.
func sniffOOXML(zr *zip.Reader) fileKind {
	for _, f := range zr.File {
		switch f.Name {
		case "word/document.xml":
			return kindDOCX
		case "ppt/presentation.xml":
			return kindPPTX
		case "xl/workbook.xml":
			return kindXLSX
		}
	}
	return kindUnknown
}

// docxText extracts the body, footnotes and endnotes of a Word document.
func docxText(ctx context.Context, zr *zip.Reader, o *options, w *textWriter) error {
	return ooxmlParts(ctx, zr, o, w, func(name string) (int, bool) {
		switch name {
		case "word/document.xml":
			return 0, true
		case "word/footnotes.xml":
			return 1, true
		case "word/endnotes.xml":
			return 2, true
		}
		return 0, false
	})
}

// pptxText extracts the slides, then the speaker notes, of a presentation,
// in slide number order.
func pptxText(ctx context.Context, zr *zip.Reader, o *options, w *textWriter) error {
	return ooxmlParts(ctx, zr, o, w, func(name string) (int, bool) {
		if n, ok := numberedPart(name, "ppt/slides/slide"); ok {
			return n, true
		}
		if n, ok := numberedPart(name, "ppt/notesSlides/notesSlide"); ok {
			return 1<<30 + n, true
		}
		return 0, false
	})
}

// numberedPart parses prefix + N + ".xml".
func numberedPart(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".xml")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0 && n < 1<<30
}

// ooxmlParts writes the text of the parts that order selects, sorted by the
// rank it gives.
func ooxmlParts(ctx context.Context, zr *zip.Reader, o *options, w *textWriter, order func(string) (int, bool)) error {
	type part struct {
		rank int
		f    *zip.File
	}
	var parts []part
	for _, f := range zr.File {
		if rank, ok := order(f.Name); ok {
			parts = append(parts, part{rank, f})
		}
	}
	if len(parts) == 0 {
		return malformed("office document without content parts")
	}
	slices.SortStableFunc(parts, func(a, b part) int { return a.rank - b.rank })
	budget := zipBudget{left: o.maxDecompressed, limit: o.maxDecompressed}
	for _, p := range parts {
		if w.full {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := budget.open(p.f)
		if err != nil {
			return err
		}
		err = ooxmlRuns(rc, w)
		rc.Close()
		if err != nil {
			return err
		}
		w.lineBreak()
	}
	return nil
}

// ooxmlRuns writes the text runs (w:t, a:t) of one WordprocessingML or
// DrawingML part: paragraphs as lines, table rows as lines with cells
// separated, tabs as spaces. A part that stops parsing keeps its text so far.
func ooxmlRuns(r io.Reader, w *textWriter) error {
	d := xml.NewDecoder(r)
	d.Strict = false
	inText := 0
	cells := 0
	rowMark := 0
	for !w.full {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if _, ok := err.(*xml.SyntaxError); ok {
				return nil // best effort
			}
			return malformed("office xml: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "t":
				inText++
			case "tab":
				w.space()
			case "br", "cr":
				w.lineBreak()
			case "tr":
				w.lineBreak()
				rowMark = len(w.buf)
			case "tc":
				if len(w.buf) > rowMark {
					w.cellSep()
				}
				cells++
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "t":
				inText = max(inText-1, 0)
			case "p":
				if cells > 0 {
					w.space()
				} else {
					w.lineBreak()
				}
			case "tc":
				cells = max(cells-1, 0)
			case "tr":
				w.lineBreak()
			}
		case xml.CharData:
			if inText > 0 {
				w.text(string(t))
			}
		}
	}
	return nil
}

// XLSX limits: excelize holds the whole shared string table in memory, at a
// few hundred bytes per string, so a small file with millions of short
// strings (well under the decompression cap) would take gigabytes. The table
// is measured first, streaming, and a larger one makes the file
// metadata-only.
const (
	XLSXMaxSharedStrings      = 200_000
	XLSXMaxSharedStringsBytes = 16 << 20
)

// checkSharedStrings fails with a *TooLargeError if xl/sharedStrings.xml is
// over XLSXMaxSharedStringsBytes decompressed or holds more than
// XLSXMaxSharedStrings strings.
func checkSharedStrings(data []byte) error {
	zr, err := openZip(data)
	if err != nil {
		return err
	}
	for _, f := range zr.File {
		if f.Name != "xl/sharedStrings.xml" {
			continue
		}
		if f.UncompressedSize64 > XLSXMaxSharedStringsBytes {
			return &TooLargeError{What: "xlsx shared strings (decompressed)", Limit: XLSXMaxSharedStringsBytes}
		}
		rc, err := f.Open()
		if err != nil {
			return malformed("xlsx: %v", err)
		}
		defer rc.Close()
		dec := xml.NewDecoder(io.LimitReader(rc, XLSXMaxSharedStringsBytes))
		n := 0
		for {
			tok, err := dec.RawToken()
			if err != nil {
				return nil // the parser proper reports broken XML
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "si" {
				if n++; n > XLSXMaxSharedStrings {
					return &TooLargeError{What: "xlsx shared strings (count)", Limit: XLSXMaxSharedStrings}
				}
			}
		}
	}
	return nil
}

// xlsxText extracts every sheet: its name on a line, then one line per row
// with non-empty cells separated by " | ", values as Excel formats them.
func xlsxText(ctx context.Context, data []byte, o *options, w *textWriter) error {
	if err := checkSharedStrings(data); err != nil {
		return err
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit: o.maxDecompressed,
		// Keep worksheets in memory (bounded above) rather than in temp files.
		UnzipXMLSizeLimit: o.maxDecompressed,
	})
	if err != nil {
		if strings.Contains(err.Error(), "unzip size exceeds") {
			return &TooLargeError{What: "decompressed", Limit: o.maxDecompressed}
		}
		return malformed("xlsx: %v", err)
	}
	defer f.Close()
	for _, sheet := range f.GetSheetList() {
		if w.full {
			break
		}
		w.lineBreak()
		w.text(sheet)
		w.lineBreak()
		rows, err := f.Rows(sheet)
		if err != nil {
			return malformed("xlsx sheet %q: %v", sheet, err)
		}
		for n := 0; rows.Next() && !w.full; n++ {
			if n%256 == 0 {
				if err := ctx.Err(); err != nil {
					rows.Close()
					return err
				}
			}
			cols, err := rows.Columns()
			if err != nil {
				break
			}
			for _, c := range cols {
				if strings.TrimSpace(c) != "" {
					w.cellSep()
					w.text(c)
				}
			}
			w.lineBreak()
		}
		rows.Close()
	}
	return nil
}
