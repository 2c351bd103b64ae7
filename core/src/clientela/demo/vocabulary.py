"""The words the demo store is made of: names, places, shops and products.

Kept as plain data so that generation code reads as arithmetic. Every name
is a common Brazilian given name or surname, every e-mail domain is reserved
for examples (RFC 2606 style), so no generated contact can reach a real
person.
"""

from __future__ import annotations

import unicodedata

FEMALE_NAMES = (
    "Ana", "Maria", "Juliana", "Fernanda", "Camila", "Beatriz", "Larissa", "Patrícia",
    "Aline", "Bruna", "Amanda", "Letícia", "Gabriela", "Mariana", "Vanessa", "Luana",
    "Carolina", "Renata", "Tatiane", "Débora", "Cláudia", "Sandra", "Simone", "Adriana",
    "Helena", "Alice", "Laura", "Valentina", "Sophia", "Isabela", "Manuela", "Lívia",
    "Rafaela", "Natália", "Priscila", "Daniela", "Luciana", "Márcia", "Raquel", "Yasmin",
    "Thaís", "Jéssica", "Michele", "Kátia", "Rosana", "Cecília", "Lorena", "Elaine",
)
MALE_NAMES = (
    "João", "José", "Pedro", "Lucas", "Gabriel", "Rafael", "Matheus", "Gustavo",
    "Felipe", "Bruno", "Rodrigo", "Thiago", "Diego", "Leonardo", "Marcelo", "Eduardo",
    "Carlos", "Paulo", "Ricardo", "André", "Fernando", "Vinícius", "Daniel", "Fábio",
    "Antônio", "Francisco", "Luiz", "Marcos", "Sérgio", "Roberto", "Miguel", "Arthur",
    "Heitor", "Davi", "Bernardo", "Enzo", "Samuel", "Henrique", "Caio", "Renato",
    "Júlio", "Otávio", "Igor", "Márcio", "Wagner", "Alexandre", "Leandro", "Vitor",
)
SURNAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
    "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes",
    "Soares", "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade",
    "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos",
    "Gonçalves", "Santana", "Teixeira", "Araújo", "Monteiro", "Moura", "Cavalcanti", "Pinto",
    "Correia", "Castro", "Campos", "Barros", "Farias", "Batista", "Miranda", "Azevedo",
    "Brito", "Duarte", "Rezende", "Prado", "Tavares", "Siqueira", "Queiroz", "Peixoto",
)
EMAIL_DOMAINS = ("example.com", "example.com.br", "example.net", "example.org")


def ascii_fold(text: str) -> str:
    """'Gonçalves' -> 'goncalves', for e-mail local parts."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


STORES = ("sp-paulista", "rj-ipanema", "bh-savassi")
"""The three physical shops; e-commerce orders carry ECOMMERCE_STORE."""
ECOMMERCE_STORE = "ecommerce"
SALESPEOPLE_PER_STORE = 4

# city, region (UF or province), country, phone prefix, home store index (-1: none), weight
CITIES: tuple[tuple[str, str, str, str, int, float], ...] = (
    ("São Paulo", "SP", "BR", "+5511", 0, 0.25),
    ("Guarulhos", "SP", "BR", "+5511", 0, 0.03),
    ("Osasco", "SP", "BR", "+5511", 0, 0.02),
    ("Campinas", "SP", "BR", "+5519", -1, 0.03),
    ("Santos", "SP", "BR", "+5513", -1, 0.02),
    ("Rio de Janeiro", "RJ", "BR", "+5521", 1, 0.15),
    ("Niterói", "RJ", "BR", "+5521", 1, 0.03),
    ("Belo Horizonte", "MG", "BR", "+5531", 2, 0.10),
    ("Contagem", "MG", "BR", "+5531", 2, 0.02),
    ("Curitiba", "PR", "BR", "+5541", -1, 0.05),
    ("Porto Alegre", "RS", "BR", "+5551", -1, 0.04),
    ("Florianópolis", "SC", "BR", "+5548", -1, 0.02),
    ("Salvador", "BA", "BR", "+5571", -1, 0.04),
    ("Recife", "PE", "BR", "+5581", -1, 0.03),
    ("Fortaleza", "CE", "BR", "+5585", -1, 0.03),
    ("Brasília", "DF", "BR", "+5561", -1, 0.05),
    ("Goiânia", "GO", "BR", "+5562", -1, 0.02),
    ("Vitória", "ES", "BR", "+5527", -1, 0.02),
    ("Manaus", "AM", "BR", "+5592", -1, 0.01),
    ("Belém", "PA", "BR", "+5591", -1, 0.01),
)
FOREIGN_CITIES: tuple[tuple[str, str, str, str, int, float], ...] = (
    ("Miami", "FL", "US", "+1305", -1, 0.3),
    ("New York", "NY", "US", "+1212", -1, 0.2),
    ("Lisboa", "Lisboa", "PT", "+35121", -1, 0.2),
    ("Porto", "Porto", "PT", "+35122", -1, 0.1),
    ("Buenos Aires", "CABA", "AR", "+5411", -1, 0.1),
    ("Montevideo", "Montevideo", "UY", "+5982", -1, 0.1),
)

# category, (product stems), lowest and highest price in BRL, share of lines
CATEGORIES: tuple[tuple[str, tuple[str, ...], float, float, float], ...] = (
    ("vestuario", ("Camiseta", "Calça Jeans", "Vestido", "Blusa", "Jaqueta", "Shorts", "Saia",
                   "Moletom", "Camisa Social", "Regata"), 39.9, 459.9, 0.38),
    ("calcados", ("Tênis", "Sandália", "Bota", "Sapatilha", "Chinelo", "Mocassim"),
     49.9, 599.9, 0.18),
    ("acessorios", ("Bolsa", "Cinto", "Óculos de Sol", "Carteira", "Relógio", "Mochila",
                    "Boné"), 29.9, 799.9, 0.14),
    ("beleza", ("Perfume", "Hidratante", "Batom", "Shampoo", "Kit Maquiagem", "Protetor Solar"),
     19.9, 449.9, 0.18),
    ("casa", ("Jogo de Cama", "Toalha de Banho", "Almofada", "Vela Aromática", "Manta",
              "Difusor"), 24.9, 389.9, 0.12),
)
PRODUCT_QUALIFIERS = (
    "Básico", "Premium", "Essencial", "Clássico", "Confort", "Urban", "Verão", "Inverno",
)
PRODUCT_COLOURS = ("Preto", "Branco", "Azul", "Verde", "Rosa", "Bege", "Cinza", "Vinho")

MONTHS_PT = (
    "Janeiro", "Fevereiro", "Março", "Abril", "Maio", "Junho", "Julho", "Agosto",
    "Setembro", "Outubro", "Novembro", "Dezembro",
)

NPS_COMMENTS = {
    "promoter": ("Adorei o atendimento!", "Entrega rápida, recomendo.",
                 "Produtos de ótima qualidade.", "Sempre compro aqui."),
    "passive": ("Bom, mas poderia ser mais barato.", "Demorou um pouco para chegar.",
                "Gostei, mas o site é confuso."),
    "detractor": ("A entrega atrasou.", "Produto veio com defeito.",
                  "Atendimento demorado no WhatsApp.", "Troca muito burocrática."),
}
