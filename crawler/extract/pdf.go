package extract

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/ledongthuc/pdf"
)

// PDF limits, against malformed or hostile files: the page tree is walked
// with bounded depth and node count (the library's own page lookup loops on
// cyclic trees), and content stream operators are counted.
const (
	pdfMaxTreeDepth = 64
	pdfMaxNodes     = 100_000
	pdfMaxOps       = 20_000_000
	// PDFMaxPageStream bounds the decompressed content stream of one page.
	// The library's interpreter keeps every operand until the next operator,
	// so a stream of numbers without operators (a few hundred KB deflated)
	// would otherwise grow memory by gigabytes. Streams are measured by
	// decompressing them into io.Discard first; a larger one makes the file
	// metadata-only.
	PDFMaxPageStream = 8 << 20
	// PDFMaxStreams bounds the decompressed content of all pages together.
	PDFMaxStreams = 64 << 20
)

// errStopPDF unwinds the content stream interpreter once the text is full,
// the context is done or the operator budget is spent.
var errStopPDF = errors.New("stop")

// pdfText extracts the text of a PDF held in data, page by page. Text is
// taken from the text-showing operators; a new line starts at line moves and
// a space is put at large glyph position adjustments.
func pdfText(ctx context.Context, data []byte, w *textWriter) (err error) {
	// The library reports errors by panicking; most are recovered inside it,
	// the rest here.
	defer func() {
		if p := recover(); p != nil {
			err = malformed("pdf: %v", p)
		}
	}()
	// The library accepts only %PDF-1.0 to 1.7 headers; 2.0 files read the
	// same for text purposes.
	if bytes.HasPrefix(data, []byte("%PDF-2.")) {
		copy(data[5:8], "1.7")
	}
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return malformed("pdf: %v", err)
	}
	x := pdfExtractor{ctx: ctx, w: w}
	root := r.Trailer().Key("Root").Key("Pages")
	x.walk(root, root.Key("Resources"), 0)
	if x.err != nil {
		return x.err
	}
	if x.pageErrs > 0 && x.pages == 0 {
		return malformed("pdf: no readable page")
	}
	return ctx.Err()
}

type pdfExtractor struct {
	ctx      context.Context
	w        *textWriter
	nodes    int
	ops      int
	pages    int // pages read
	pageErrs int // pages whose content could not be read
	err      error
	// streamBytes is the decompressed content of the pages so far.
	streamBytes int64
}

// walk visits the page tree depth first, carrying inherited resources.
func (x *pdfExtractor) walk(node, res pdf.Value, depth int) {
	if x.err != nil || x.w.full || depth > pdfMaxTreeDepth || x.nodes >= pdfMaxNodes {
		return
	}
	x.nodes++
	if r := node.Key("Resources"); !r.IsNull() {
		res = r
	}
	switch node.Key("Type").Name() {
	case "Pages":
		kids := node.Key("Kids")
		for i := 0; i < kids.Len() && x.err == nil && !x.w.full; i++ {
			x.walk(kids.Index(i), res, depth+1)
		}
	case "Page":
		if err := x.ctx.Err(); err != nil {
			x.err = err
			return
		}
		if x.page(node, res) {
			x.pages++
		} else {
			x.pageErrs++
		}
		x.w.lineBreak()
	}
}

// measure decompresses a page's content streams without keeping them and
// fails with a *TooLargeError past PDFMaxPageStream or, over all pages,
// PDFMaxStreams.
func (x *pdfExtractor) measure(contents pdf.Value) error {
	streams := []pdf.Value{contents}
	if contents.Kind() == pdf.Array {
		streams = streams[:0]
		for i := 0; i < contents.Len(); i++ {
			streams = append(streams, contents.Index(i))
		}
	}
	var page int64
	for _, st := range streams {
		rc := st.Reader()
		n, _ := io.Copy(io.Discard, io.LimitReader(rc, PDFMaxPageStream+1-page))
		rc.Close()
		page += n
		if page > PDFMaxPageStream {
			return &TooLargeError{What: "pdf page content stream (decompressed)", Limit: PDFMaxPageStream}
		}
	}
	x.streamBytes += page
	if x.streamBytes > PDFMaxStreams {
		return &TooLargeError{What: "pdf content streams (decompressed)", Limit: PDFMaxStreams}
	}
	return nil
}

// rawEncoding passes font codes through, for fonts without a known encoding.
type rawEncoding struct{}

func (rawEncoding) Decode(raw string) string { return raw }

// page writes the text of one page and reports whether it could be read.
func (x *pdfExtractor) page(node, res pdf.Value) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = p == errStopPDF
		}
	}()
	fonts := map[string]*pdf.Font{}
	fontDict := res.Key("Font")
	for _, name := range fontDict.Keys() {
		fonts[name] = &pdf.Font{V: fontDict.Key(name)}
	}
	contents := node.Key("Contents")
	if contents.IsNull() {
		return true
	}
	if err := x.measure(contents); err != nil {
		x.err = err
		return false
	}
	var enc pdf.TextEncoding = rawEncoding{}
	var args []pdf.Value
	show := func(v pdf.Value) { x.w.text(enc.Decode(v.RawString())) }
	pdf.Interpret(contents, func(stk *pdf.Stack, op string) {
		x.ops++
		if x.w.full || x.ops > pdfMaxOps {
			panic(errStopPDF)
		}
		if x.ops%4096 == 0 && x.ctx.Err() != nil {
			x.err = x.ctx.Err()
			panic(errStopPDF)
		}
		args = args[:0]
		for n := stk.Len(); n > 0; n-- {
			args = append(args, stk.Pop())
		}
		// args holds the operands last first.
		switch op {
		case "BT":
			x.w.space()
		case "T*":
			x.w.lineBreak()
		case "Td", "TD":
			if len(args) == 2 && args[0].Float64() != 0 {
				x.w.lineBreak()
			} else {
				x.w.space()
			}
		case "Tm":
			x.w.lineBreak()
		case "Tf":
			if len(args) == 2 {
				if f, ok := fonts[args[1].Name()]; ok {
					enc = f.Encoder()
				} else {
					enc = rawEncoding{}
				}
			}
		case "'", "\"":
			x.w.lineBreak()
			if len(args) > 0 {
				show(args[0])
			}
		case "Tj":
			if len(args) == 1 {
				show(args[0])
			}
		case "TJ":
			if len(args) != 1 {
				return
			}
			a := args[0]
			for i := 0; i < a.Len(); i++ {
				v := a.Index(i)
				switch v.Kind() {
				case pdf.String:
					show(v)
				case pdf.Integer, pdf.Real:
					// A shift of more than ~a fifth of an em separates words.
					if v.Float64() < -200 {
						x.w.space()
					}
				}
			}
		}
	})
	return true
}
